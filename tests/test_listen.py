"""A DC with several gateway processes on one port (entrypoints/gateway/listen.py): the operator is
told when the kernel would reset, rather than pass on, the connections queued at a process that
stops."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from firebreak.config import DCConfig
from firebreak.entrypoints.gateway.listen import MIGRATE_REQ, listening, reset_warning
from firebreak.localcluster import free_ports


@pytest.mark.parametrize(("value", "warned"), [("0\n", True), ("1\n", False)])
def test_the_setting_decides(tmp_path: Path, value: str, warned: bool) -> None:
    setting = tmp_path / "tcp_migrate_req"
    setting.write_text(value)
    warning = reset_warning(setting)
    assert (warning is not None) == warned
    assert warning is None or "tcp_migrate_req=1" in warning


def test_a_kernel_without_the_setting_gets_no_warning(tmp_path: Path) -> None:
    assert reset_warning(tmp_path / "absent") is None


def test_a_process_says_it_as_it_binds(caplog: pytest.LogCaptureFixture) -> None:
    shared, own, other = free_ports(3)
    dc = DCConfig(name="dc1", http_port=shared, gateways=2, process_ports=(own, other))
    with caplog.at_level(logging.WARNING, logger="firebreak.entrypoints.gateway.listen"):
        for sock in listening(dc, 1):
            sock.close()
    said = [r.getMessage() for r in caplog.records if "tcp_migrate_req" in r.getMessage()]
    assert said == ([f"dc1: {reset_warning()}"] if reset_warning(MIGRATE_REQ) else []), said
