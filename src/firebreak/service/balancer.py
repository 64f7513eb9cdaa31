"""The cluster keeps its own stream leaders spread (domain/placement.py says where they belong).

However the cluster was started (``firebreak up``, or three sites each starting their own
processes) and after a DC comes back from a fire, leaders end up spread over the DCs that serve.
Every gateway runs a :class:`Balancer`; each round it

1. writes its DC's heartbeat to the ops board (serving? draining?),
2. takes or renews the board's ``balancer`` lease: only the holder goes on, so one actor moves
   leaders at a time (a holder that dies loses the lease when it expires),
3. reads every DC's heartbeat and every stream's placement, and counts a DC as one that may lead
   only if its gateway serves, is not draining, is not much farther from its peers than the
   others are (domain/placement.py ``too_far``: a slow link), and its replica of every stream
   keeps up, for ``settle_rounds`` rounds (a DC that has just rejoined takes no leader
   before it has caught up and stayed so); a DC fit for fewer rounds waits, keeping what it leads,
   and so does a DC that may lead while a replica of it is behind for fewer rounds than that
   (domain/placement.py ``Eligibility``),
4. asks the leaders that should move to step down in favour of their target (~23 ms each).

It acts only while a majority of the DCs may lead: while the cluster is still starting (one
gateway serving so far) moving every leader to the first DC up would only have to be undone.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence

from firebreak.adapters.leadership import Leadership, StreamPlacement
from firebreak.adapters.ops_board import DCHeartbeat, OpsBoard
from firebreak.domain import placement

log = logging.getLogger(__name__)

LEASE = "balancer"
#: How a planned move is logged (the bench counts them: a move in a measured run stalls a stream).
MOVING = "moving the leader of"


class Balancer:
    def __init__(
        self,
        board: OpsBoard,
        leadership: Leadership,
        *,
        dc: str,
        dcs: Sequence[str],
        streams: Sequence[str],
        heartbeat: Callable[[], DCHeartbeat],
        every_s: float = 5.0,
        settle_rounds: int = 2,
    ) -> None:
        self._board = board
        self._leadership = leadership
        self._dc = dc
        self._dcs = list(dcs)
        self._streams = list(streams)
        self._heartbeat = heartbeat
        self._every_s = every_s
        self._settle_rounds = settle_rounds
        self._eligibility = placement.Eligibility(self._dcs, settle_rounds)
        self._standing: dict[str, placement.Standing] = {}

    async def run(self) -> None:
        while True:
            try:
                await self.round()
            except Exception:  # the board or a leader did not answer: the next round tries again
                log.warning("%s: leader balancing round failed", self._dc, exc_info=True)
            await asyncio.sleep(self._every_s * random.uniform(0.75, 1.25))

    async def announce(self) -> None:
        """Writes this DC's heartbeat now: after a drain, so that the holder stops giving this DC
        leaders at once rather than at this DC's next round."""
        await self._board.beat(self._dc, self._heartbeat())

    async def round(self) -> list[tuple[str, str]]:
        """One round; returns the moves it asked for (empty when not the holder or balanced)."""
        await self.announce()
        if not await self._board.hold(LEASE, self._dc):
            # Another DC balances; start afresh if the lease comes here.
            self._eligibility = placement.Eligibility(self._dcs, self._settle_rounds)
            self._standing = {}
            return []
        beats = await self._board.heartbeats(self._dcs)
        # Asked together: from a DC behind a slow link each question costs its round trip.
        async with asyncio.TaskGroup() as questions:
            asked = {s: questions.create_task(self._leadership.placement(s)) for s in self._streams}
        placements = {s: task.result() for s, task in asked.items()}
        standing = self._judge(beats, placements)
        eligible = [dc for dc in self._dcs if standing[dc] is placement.Standing.LEADS]
        behind = [dc for dc in self._dcs if standing[dc] is placement.Standing.LEADS_BEHIND]
        if len(eligible) + len(behind) <= len(self._dcs) // 2:
            return []
        waiting = [dc for dc in self._dcs if standing[dc] is placement.Standing.WAITING]
        planned = placement.moves({s: p.leader for s, p in placements.items()}, eligible, waiting + behind)
        for stream, target in planned:
            log.info("%s: %s %s to %s", self._dc, MOVING, stream, target)
            await self._leadership.step_down(stream, target)
        return planned

    def _judge(
        self, beats: dict[str, DCHeartbeat], placements: dict[str, StreamPlacement]
    ) -> dict[str, placement.Standing]:
        far = placement.too_far({dc: b.nearest_peer_ms for dc, b in beats.items()})
        verdicts = {dc: self._verdict(dc, beats.get(dc), far, placements) for dc in self._dcs}
        standing = self._eligibility.judge({dc: v for dc, (v, _) in verdicts.items()})
        for dc, now in standing.items():  # said once per change, before any move it causes
            if now is not self._standing.get(dc, placement.Standing.WAITING):
                verdict, detail = verdicts[dc]
                why = f": {verdict.value}{detail}" if verdict is not None else ""
                log.info("%s: %s %s%s", self._dc, dc, now.value, why)
        self._standing = standing
        return standing

    @staticmethod
    def _verdict(
        dc: str, beat: DCHeartbeat | None, far: set[str], placements: dict[str, StreamPlacement]
    ) -> tuple[placement.Unfit | None, str]:
        """Why ``dc`` may not lead this round (None: fit), and which streams, when it is behind."""
        if beat is None:
            return placement.Unfit.NO_HEARTBEAT, ""
        if not beat.ready:
            return placement.Unfit.NOT_SERVING, ""
        if beat.draining:
            return placement.Unfit.DRAINING, ""
        if dc in far:
            return placement.Unfit.TOO_FAR, ""
        # A stream led from a far DC reaches its followers late, so they look behind: that is the
        # leader's distance, not theirs, and must not keep them from taking over.
        behind = sorted(s for s, p in placements.items() if dc not in p.keeping_up and p.leader not in far)
        if behind:
            return placement.Unfit.BEHIND, f" ({', '.join(behind)})"
        return None, ""
