"""Whether this DC is cut off from the log: a partition, seen from inside the cut-off DC.

A DC cut off from the other two (a cut fibre) keeps running. Its node reaches no quorum, so it
can acknowledge no write and learns of no new entry. Left alone, its clients would wait: each
write for the gateway's whole write deadline before a 503, and each live connection open and
silent, missing every message the majority takes.

So when no stream of the log has shown this DC a working quorum for :data:`CUT_OFF_AFTER_S`
(adapters/quorum_probe.py asks them all), the serving DC declares itself cut off: it ends its
live sessions (they reconnect elsewhere with their cursor), answers the writes still waiting for
the log's acknowledgement at once (:meth:`CutOffWatch.signal`: they retry at the majority with the
same id) and refuses writes with 503 ``dc_cut_off`` until a stream is in touch again.

From the inside, a partition and a leader election look alike for the election's first seconds.
But losing one DC costs only the streams it led an election, the rest stay in touch; only the
loss of every stream at once counts here. Should that ever happen without a partition, what it
costs is one reconnect elsewhere per client.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

from firebreak.errors import Unavailable

log = logging.getLogger(__name__)

#: How long without any stream in touch before the DC calls itself cut off: a few of the probe's
#: rounds, so that one slow answer is not a cut.
CUT_OFF_AFTER_S = 3.0


class Contact(Protocol):
    """What the watch needs (adapters/quorum_probe.py's QuorumProbe)."""

    @property
    def last_contact(self) -> float:
        """When (on the watch's clock) a stream of the log last showed a quorum with this DC."""
        ...


class Link(enum.Enum):
    IN_TOUCH = "in_touch"
    CUT_OFF = "cut_off"


class CutOffWatch:
    """A small state machine, IN_TOUCH <-> CUT_OFF, stepped by :meth:`run`.

    ``active`` says whether the DC serves at all (a DC still catching up refuses anyway);
    ``on_cut`` runs once on each entry to CUT_OFF. A step that comes late (the event loop was
    held) judges nothing: the probe's answers may be waiting behind it. ``dc`` names this DC in
    the refusal.
    """

    def __init__(
        self,
        contact: Contact,
        active: Callable[[], bool],
        on_cut: Callable[[], object],
        *,
        cut_off_after_s: float = CUT_OFF_AFTER_S,
        every_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        dc: str = "this DC",
    ) -> None:
        self._contact = contact
        self._active = active
        self._on_cut = on_cut
        self._after_s = cut_off_after_s
        self._every_s = every_s
        self._clock = clock
        self._last_step: float | None = None
        self._dc = dc
        #: Done (holding :meth:`refusal`) from the entry to CUT_OFF; a new one after each heal.
        self._cut: asyncio.Future[BaseException] | None = None
        self.state = Link.IN_TOUCH
        #: How many times this DC has found itself cut off.
        self.cuts = 0

    @property
    def cut_off(self) -> bool:
        return self.state is Link.CUT_OFF

    def refusal(self) -> Unavailable:
        """The answer to a write while cut off (503 ``dc_cut_off``)."""
        return Unavailable(
            f"{self._dc} is cut off from the log (no stream shows it a quorum): it can take no "
            "write; use another DC",
            code="dc_cut_off",
            # Worth asking this DC again only once the cut-off rule could have changed its mind.
            retry_after_s=math.ceil(self._after_s),
        )

    def signal(self) -> asyncio.Future[BaseException]:
        """Done, holding :meth:`refusal`, once this DC is cut off (already, if it is now): a write
        waits on "acknowledged or cut off", whichever comes first (retry.py's ``unless``). Shared
        by every waiter; nobody may cancel it."""
        if self._cut is None:
            self._cut = asyncio.get_running_loop().create_future()
            if self.cut_off:
                self._cut.set_result(self.refusal())
        return self._cut

    def step(self) -> Link:
        now = self._clock()
        late = self._last_step is not None and now - self._last_step > max(1.0, 10 * self._every_s)
        self._last_step = now
        silent = now - self._contact.last_contact >= self._after_s
        if not silent or not self._active():
            if self.state is Link.CUT_OFF:
                log.warning("in touch with the log again: serving")
                self._cut = None
            self.state = Link.IN_TOUCH
        elif self.state is Link.IN_TOUCH and not late:
            self.state = Link.CUT_OFF
            self.cuts += 1
            log.warning(
                "cut off from the log (no stream in touch for %.1f s): sending clients away", self._after_s
            )
            self._on_cut()
            if self._cut is not None and not self._cut.done():
                self._cut.set_result(self.refusal())
        return self.state

    async def run(self) -> None:
        """Steps until cancelled."""
        while True:
            self.step()
            await asyncio.sleep(self._every_s)
