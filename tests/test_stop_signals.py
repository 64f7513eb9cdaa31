"""A gateway's SIGTERM/SIGINT handling (entrypoints/gateway/stop_signals.py): the first signal
asks for the stop once; a repeated SIGTERM while it runs changes nothing; the handlers go when the
stop is done. (A repeated SIGINT quits the process: not tried here, it would end the test run.)
The whole path, a gateway stopped with SIGTERM exiting 0 with its read model committed, is in
tests/test_gateway_crash.py."""

from __future__ import annotations

import os
import signal

from firebreak.entrypoints.gateway.stop_signals import StopSignals
from tests.helpers import eventually


async def test_the_first_signal_stops_once_and_a_repeated_sigterm_is_ignored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stops: list[int] = []
    with StopSignals(lambda: stops.append(1)) as signals:

        async def heard(n: int) -> bool:
            return signals.received == n

        os.kill(os.getpid(), signal.SIGTERM)
        await eventually(lambda: heard(1), within_s=5, what="the first SIGTERM")
        os.kill(os.getpid(), signal.SIGTERM)
        await eventually(lambda: heard(2), within_s=5, what="the second SIGTERM")
        assert stops == [1]
    assert signal.getsignal(signal.SIGTERM) in (before, signal.SIG_DFL), "handlers removed"
