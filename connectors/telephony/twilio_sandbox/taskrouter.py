"""The TaskRouter event the stand-in sends when a placed call reaches an agent.

Twilio docs "TaskRouter Events reference" (twilio.com/docs/taskrouter/api/event/reference):
TaskRouter ``POST``s a form to the Workspace's ``EventCallbackUrl`` for every event, with
``EventType``, ``AccountSid``, ``WorkspaceSid``, ``WorkspaceName``, ``EventDescription``,
``ResourceType``, ``ResourceSid`` and ``Timestamp``; ``reservation.accepted`` ("a task
reservation is accepted by a worker") adds the Task's fields (``TaskSid``,
``TaskAttributes`` as a JSON string, ...), the Worker's (``WorkerSid``, ``WorkerName``,
``WorkerAttributes`` as a JSON string, ...), ``TaskQueueSid``, ``ReservationSid`` and
``WorkflowSid``. The SIDs have Twilio's prefixes (``WS`` workspace, ``WT`` task, ``WR``
reservation, ``WK`` worker, ``WQ`` queue, ``WW`` workflow). ``Timestamp`` is the epoch
second the event was sent, as TaskRouter's event callbacks carry it.

The stand-in's own choice: the task's attributes are what a Studio flow or TwiML
``<Enqueue>`` would put there for crm-pay (``call_sid``, ``from``, ``to``) and the
worker's carry its crm-pay username as ``crm_pay_agent``. The form is signed and posted
by the same dispatcher as the status callbacks (``callbacks.py``): one signing scheme.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from .pay_session import Call

__all__ = ["WORKSPACE_NAME", "reservation_accepted"]

WORKSPACE_NAME = "crm-pay development stand-in"


def reservation_accepted(
    call: Call,
    *,
    agent: str,
    workspace_sid: str,
    new_sid: Callable[[str], str],
    now: datetime,
) -> dict[str, str]:
    """The ``reservation.accepted`` Event Callback form for ``call`` answered by ``agent``
    (a crm-pay username); ``new_sid(prefix)`` makes the task's, reservation's, worker's,
    queue's and workflow's SIDs."""
    sids = {
        name: new_sid(prefix)
        for name, prefix in (
            ("task", "WT"),
            ("reservation", "WR"),
            ("worker", "WK"),
            ("queue", "WQ"),
            ("workflow", "WW"),
        )
    }
    task_attributes = {"call_sid": call.sid, "from": call.caller, "to": call.called}
    return {
        "EventType": "reservation.accepted",
        "AccountSid": call.account_sid,
        "WorkspaceSid": workspace_sid,
        "WorkspaceName": WORKSPACE_NAME,
        "EventDescription": f"Reservation {sids['reservation']} accepted by worker {agent}",
        "ResourceType": "reservation",
        "ResourceSid": sids["reservation"],
        "Timestamp": str(int(now.timestamp())),
        "TaskSid": sids["task"],
        "TaskAttributes": json.dumps(task_attributes, separators=(",", ":")),
        "TaskAssignmentStatus": "assigned",
        "TaskChannelUniqueName": "voice",
        "TaskQueueSid": sids["queue"],
        "WorkflowSid": sids["workflow"],
        "ReservationSid": sids["reservation"],
        "WorkerSid": sids["worker"],
        "WorkerName": agent,
        "WorkerAttributes": json.dumps({"crm_pay_agent": agent}, separators=(",", ":")),
    }
