"""The public status page where a DC runs several gateway processes (ops_console/status.py): each
is asked at its own port, and the DC's state follows what ``dc status`` says of it."""

from __future__ import annotations

from typing import Any

import httpx

from firebreak.config import Config, DCConfig
from firebreak.entrypoints.ops_console.status import dc_health, gather

READY: dict[str, Any] = {"ready": True, "draining": False}
#: A draining gateway's read model stays ready (/healthz says both).
DRAINING: dict[str, Any] = {"ready": True, "draining": True}
STARTING: dict[str, Any] = {"ready": False, "starting": "dc3 is starting"}


def test_a_dc_is_as_its_processes_are() -> None:
    assert dc_health([READY, READY]) == READY
    assert dc_health([READY, DRAINING]) == {"ready": True, "draining": True}
    assert dc_health([READY, None]) == READY  # a dead process's share goes to the others
    assert dc_health([None, None]) is None
    assert dc_health([STARTING, READY]) == {"ready": False, "draining": False, "starting": True}


async def test_each_process_is_asked_at_its_own_port() -> None:
    # dc1's shared port (8001) reaches whichever process the kernel picks: here the one that is
    # ready, while its second process (8003) drains; dc2's second process is gone.
    dcs = (
        DCConfig(name="dc1", http_port=8001, gateways=2, process_ports=(8002, 8003)),
        DCConfig(name="dc2", http_port=8011, gateways=2, process_ports=(8012, 8013)),
        DCConfig(name="dc3", http_port=8021),
    )
    answers = {8001: READY, 8002: READY, 8003: DRAINING, 8012: READY, 8021: READY}

    def answer(request: httpx.Request) -> httpx.Response:
        port = request.url.port
        if port not in answers:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=answers[port])

    config = Config(dcs=dcs)
    asked: list[str] = []

    def own() -> dict[str, Any]:
        asked.append("own")
        return READY

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        report = await gather(config, "dc3", 1, own, http)
    assert {d.name: d.state for d in report.dcs} == {"dc1": "maintenance", "dc2": "up", "dc3": "up"}
    assert asked == ["own"]
