"""What a starting gateway is doing and what it waits for, for /healthz and for its log.

A gateway never gives up while the cluster forms: each step of its start (connect to the log,
make sure the streams exist, read the token key) waits with backoff for as long as it takes and
reports here why it is not ready yet. The log gets each new reason once and a reminder every
``remind_s`` while it lasts, so a long wait is visible without flooding the file.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


class Startup:
    def __init__(self, dc: str, *, remind_s: float = 10.0) -> None:
        self._dc = dc
        self._remind_s = remind_s
        self.step = "starting"
        #: The last error the current step is waiting out (None: not waiting).
        self.waiting_for: str | None = None
        self._logged_at = 0.0
        self._logged_reason: str | None = None

    def begin(self, step: str) -> None:
        self.step = step
        self.waiting_for = None
        log.info("%s: %s", self._dc, step)

    def retrying(self, exc: BaseException) -> None:
        """Hears an error that the current step will try again after a pause."""
        reason = f"{type(exc).__name__}: {exc}".rstrip(": ") if str(exc) else type(exc).__name__
        self.waiting_for = reason
        now = time.monotonic()
        if reason != self._logged_reason or now - self._logged_at >= self._remind_s:
            log.warning("%s: %s: waiting (%s)", self._dc, self.step, reason)
            self._logged_reason, self._logged_at = reason, now

    def describe(self) -> str:
        return f"{self.step} (waiting: {self.waiting_for})" if self.waiting_for else self.step
