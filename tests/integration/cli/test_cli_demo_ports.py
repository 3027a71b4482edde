"""``crm-pay demo --sandbox-port 0``: any free ports for the Braintree sandbox, its hosted
fields included (they were put on port 1, the port after 0)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from crm_pay.demo import run_demo
from paytest import free_port


def test_sandbox_port_0_gives_the_hosted_fields_a_free_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("CRM_PAY_")]:
        monkeypatch.delenv(key)
    printed: list[str] = []
    run_demo(
        host="127.0.0.1",
        port=free_port(),
        sandbox_port=0,
        instance=str(tmp_path / "instance"),
        serve=False,
        echo=printed.append,
        sample_data=False,
        telephony_port=0,
    )
    line = next(text for text in "\n".join(printed).splitlines() if "(hosted fields)" in text)
    gateway, assets = (int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", line))
    assert gateway > 1024 and assets > 1024 and assets != gateway, line
