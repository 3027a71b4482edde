"""``crm-pay telephony-sandbox``: the Twilio stand-in from the crm-pay program, with its
own options (the same as ``python -m connectors.telephony.twilio_sandbox``)."""

from __future__ import annotations

import subprocess
import sys
import time

import requests
from click.testing import CliRunner

from crm_pay.cli_main import program


def test_the_command_lists_the_stand_ins_options() -> None:
    result = CliRunner().invoke(program, ["telephony-sandbox", "--help"])
    assert result.exit_code == 0
    assert "--taskrouter-callback" in result.output and "--auth-token" in result.output


def test_the_command_serves_the_virtual_phone_until_stopped() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "crm_pay.cli_main", "telephony-sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        phone = ""
        deadline = time.monotonic() + 20
        while not phone and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "virtual phone:" in line:
                phone = line.split("virtual phone:", 1)[1].strip()
        assert phone, "the stand-in did not print its virtual phone"
        page = requests.get(phone, timeout=10)
        assert page.status_code == 200 and "not Twilio" in page.text
    finally:
        proc.terminate()
        code = proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert code == 0  # SIGTERM: stopped cleanly
