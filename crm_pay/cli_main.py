"""The ``crm-pay`` program: the command group of ``crm_pay.cli`` run against the
standalone app (``crm_pay.create_app``), plus the commands that only make sense there
(``demo`` starts its own standalone app; ``sandbox`` is a development tool).

Separate from ``crm_pay.cli`` because it imports the app factory, which imports the
extension, which registers ``crm_pay.cli`` on every app: keeping the program here keeps
that chain free of cycles.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask.cli import ScriptInfo

from connectors.telephony.twilio_sandbox import cli as telephony_sandbox_cli
from crm_pay.app import create_app
from crm_pay.cli import cli
from crm_pay.config import set_default_instance_path
from crm_pay.demo import run_demo, start_sandbox
from crm_pay.domain.errors import CrmPayError

__all__ = ["main"]


@click.command("sandbox", help="Run the Braintree development sandbox (a development tool).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8830, show_default=True)
@click.option("--assets-port", default=8831, show_default=True)
@click.option("--webhook-url", default=None)
def sandbox(host: str, port: int, assets_port: int, webhook_url: str | None) -> None:
    server = start_sandbox(host=host, port=port, assets_port=assets_port, webhook_url=webhook_url)
    click.echo(
        f"Braintree development sandbox: gateway {server.gateway_url}, "
        f"hosted fields {server.assets_url}"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()


@click.command(
    "telephony-sandbox",
    help="Run the Twilio stand-in and its virtual phone (a development tool; "
    "options: --host, --port, --account-sid, --auth-token, --taskrouter-callback).",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
)
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
def telephony_sandbox(options: tuple[str, ...]) -> None:
    # the stand-in's own command line (python -m connectors.telephony.twilio_sandbox)
    sys.exit(telephony_sandbox_cli.main(list(options)))


@click.command("demo", help="Everything on one machine: sandbox, demo data, app, workers.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option(
    "--sandbox-port",
    default=8830,
    show_default=True,
    help="The Braintree sandbox's gateway; its hosted fields on the next port (0: any free ports).",
)
@click.option(
    "--telephony-port",
    default=8840,
    show_default=True,
    help="The Twilio stand-in and its virtual phone (a free port when it is taken).",
)
@click.option(
    "--instance",
    "instance",
    default="instance",
    show_default=True,
    type=click.Path(file_okay=False),
)
@click.option("--no-serve", is_flag=True, help="Prepare and print, but do not serve.")
@click.option(
    "--no-sample-data",
    is_flag=True,
    help="Prepare a new instance without the sample history (two days of payments, cases, "
    "approvals, a dispute, reminders, a survey answer).",
)
@click.option(
    "--braintree-web",
    is_flag=True,
    help="The pay page runs Braintree's own braintree-web (as in production, wallets too) "
    "against the sandbox; prints how to open the demo in a chromium that reaches it.",
)
def demo(
    host: str,
    port: int,
    sandbox_port: int,
    telephony_port: int,
    instance: str,
    no_serve: bool,
    no_sample_data: bool,
    braintree_web: bool,
) -> None:
    run_demo(
        host=host,
        port=port,
        sandbox_port=sandbox_port,
        telephony_port=telephony_port,
        instance=str(Path(instance).resolve()),
        serve=not no_serve,
        echo=click.echo,
        sample_data=not no_sample_data,
        braintree_web=braintree_web,
    )


class _Program(click.Group):
    """``crm_pay.cli``'s commands plus ``demo`` and ``sandbox``, without adding those two
    to the group every app registers (``flask crm-pay``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*cli.list_commands(ctx), *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or cli.get_command(ctx, cmd_name)


program = _Program("crm-pay", help=cli.help, commands=[demo, sandbox, telephony_sandbox])


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: run ``crm-pay`` against the standalone app, whose
    instance folder is ``./instance`` unless ``CRM_PAY_INSTANCE_PATH`` says otherwise
    (set for child processes too, e.g. ``crm-pay serve``'s gunicorn workers)."""
    set_default_instance_path(str(Path("instance").resolve()))
    try:
        return program.main(
            args=argv,
            prog_name="crm-pay",
            standalone_mode=True,
            obj=ScriptInfo(create_app=create_app, set_debug_flag=False),
        )
    except CrmPayError as exc:  # configuration problems: say what to fix, no traceback
        click.secho(f"error: {exc.message}", fg="red", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
