"""SIGTERM and SIGINT for a gateway process (main.py).

The first asks for a graceful stop: the server finishes its requests, then the gateway commits
its read model (``gw.close()``). A repeated SIGTERM is ignored while that runs (a supervisor
that loses patience sends SIGKILL: localcluster, ``firebreak up``); a repeated SIGINT quits at
once, as a person pressing Ctrl-C again expects (what the read model had not committed is read
again from the log at the next start).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Handles both signals on the running loop while entered; ``on_stop`` runs on the first."""

    def __init__(self, on_stop: Callable[[], None]) -> None:
        self._on_stop = on_stop
        self.received = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> StopSignals:
        self._loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            self._loop.add_signal_handler(sig, self._heard, sig)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None:
            for sig in SIGNALS:
                self._loop.remove_signal_handler(sig)

    def _heard(self, sig: signal.Signals) -> None:
        self.received += 1
        if self.received == 1:
            log.info("%s: stopping", sig.name)
            self._on_stop()
        elif sig == signal.SIGINT:
            log.warning("SIGINT again: quitting without finishing the stop")
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.raise_signal(signal.SIGINT)
        else:
            log.info("%s again: already stopping", sig.name)
