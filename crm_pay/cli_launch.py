"""``crm-pay launch-url``: print a signed link that opens the agent console on a customer.

For CRMs without Canvas or CRM cards: the CRM's button calls this (or the same
``crm_pay.services.launch.launch_link`` function through a small endpoint of its own) and
opens the printed URL. A thin wrapper over the service function.
"""

from __future__ import annotations

import click

from crm_pay.cli_common import app_context, command_context, fail
from crm_pay.domain.errors import CrmPayError
from crm_pay.services.launch import LaunchConfig, launch_link

__all__ = ["launch_url"]


@click.command("launch-url", help="Print a signed link that opens the console on a customer.")
@click.option("--customer", "crm_ref", required=True, help="The customer's CRM id.")
@click.option(
    "--minutes",
    type=click.IntRange(1, 24 * 60),
    default=None,
    help="How long the link works (default CRM_PAY_LAUNCH_LINK_MINUTES, 5).",
)
@click.option("--agent", default=None, help="Only this agent (email) may use the link.")
@click.option(
    "--call-sid",
    default=None,
    help="The call the agent is on (Twilio's Call SID): offered for a keypad payment.",
)
def launch_url(crm_ref: str, minutes: int | None, agent: str | None, call_sid: str | None) -> None:
    with app_context():
        try:
            url = launch_link(
                command_context(),
                crm_ref,
                config=LaunchConfig.from_config(command_context().config),
                minutes=minutes or command_context().config.launch_link_minutes,
                agent=agent,
                call_sid=call_sid,
            )
        except CrmPayError as exc:
            fail(exc)
    click.echo(url)
