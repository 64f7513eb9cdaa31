"""Runs a drill: a fresh local cluster, the workload, the disasters on schedule, then the checks.

Every loop here is bounded: the workload by count and duration, every wait by a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import httpx
import msgspec

from firebreak.adapters import leadership
from firebreak.config import Config
from firebreak.domain.ids import partition_of, room_stream
from firebreak.drill.chat_faults import forget_one, inject_phantom
from firebreak.drill.checker import check
from firebreak.drill.files import Uploads, forget_file, read_files
from firebreak.drill.findings import Findings
from firebreak.drill.plan import LINK_KINDS, Disaster, DrillOptions
from firebreak.drill.readback import probe_reads, read_back, settle
from firebreak.drill.record import Mark, ReadProbe
from firebreak.drill.slowdc import SlowLinks
from firebreak.drill.workload import Workload
from firebreak.errors import FirebreakError
from firebreak.localcluster import LocalCluster, Sites
from firebreak.localcluster.linkfaults import LinkFault
from firebreak.tasks import cancel_all, failures

Progress = Callable[[str], None]


class DrillResult(msgspec.Struct):
    options: DrillOptions
    command: str
    started_at: str
    dcs: list[str]
    marks: list[Mark]
    findings: Findings
    #: When each burned DC was serving again (seconds since the workload started).
    back_at: dict[str, float]
    elapsed_s: float


class Drill:
    #: The stream whose leader's DC a disaster aimed at ``leader`` hits; None: the DC leading the
    #: streams of most of the drill's members' rooms (a workload whose truth is one stream names
    #: that stream).
    leader_stream: str | None = None

    def __init__(
        self,
        config: Config,
        options: DrillOptions,
        command: str,
        progress: Progress,
        sites: Sites | None = None,
        links: LinkFault | None = None,
    ) -> None:
        self._config = config
        self._o = options
        self._command = command
        self._say = progress
        self._cluster = LocalCluster(config, sites=sites, links=links)
        self._slow = SlowLinks(config, options, self._cluster.links, self._pick, self._mark)
        self._t0 = 0.0
        self.marks: list[Mark] = []
        self.burned: list[str] = []
        #: DCs cut off from the others right now (partition disasters; isolated DCs only).
        self.cut: list[str] = []
        self.back_at: dict[str, float] = {}
        self.phase = "setup"
        #: DCs whose gateway should answer right now (burned ones leave, rebuilt ones return when ready).
        self.serving: set[str] = {d.name for d in config.dcs}
        self.probes: list[ReadProbe] = []
        #: room partition -> its weight when a disaster aims at ``leader``: one each (the DC leading
        #: the most partitions) until :meth:`run` counts the drill's room members in each, so that
        #: the DC hit leads the drill's own traffic (one leading partitions that hold none of the
        #: rooms would be hit without the drill seeing it). Drills that name a ``leader_stream``
        #: go by that stream.
        self._weights: Counter[int] = Counter(range(config.partitions))

    def clock(self) -> float:
        return time.monotonic() - self._t0 if self._t0 else 0.0

    def _mark(self, label: str, dc: str) -> None:
        self.marks.append(Mark(round(self.clock(), 3), label, dc))
        self.phase = f"after {label}"
        self._say(f"[{self.clock():6.1f}s] {label}")

    async def run(self) -> DrillResult:
        started_at, wall = await self._start_cluster()
        workload = Workload(self._config, self._o, self.clock)
        try:
            self._say(
                f"setting up {self._o.users} users, {self._o.group_rooms + self._o.direct_rooms} rooms ..."
            )
            await workload.setup()
            self._weights = Counter()
            for room_id, members in workload.rooms.items():
                self._weights[partition_of(room_id, self._config.partitions)] += len(members)
            stop = asyncio.Event()
            side = self._start_disasters()
            side.append(
                asyncio.create_task(
                    probe_reads(self._config, workload, self.serving, self.probes, self.clock)
                )
            )
            side.append(asyncio.create_task(self._progress(workload)))
            uploads = Uploads(self._config, self._o, workload, self.clock)
            uploading = asyncio.create_task(uploads.run(stop))
            await workload.run(stop)
            end = self.clock()
            self.phase = "settling"
            for task in side[:-2]:  # disasters scheduled later than the workload still happen
                await task
            await cancel_all([side[-2]])
            for failure in failures([side[-2]]):
                self._say(f"warning: the read probes stopped early: {failure!r}")
            await uploading
            if self._o.inject_fault == "phantom":
                self._say(await inject_phantom(self._config, self._alive(), workload))
            histories, digests = await settle(self._config, self._alive, workload, self._o.settle_s)
            if self._o.inject_fault == "forget":
                self._say(forget_one(self._config, self._alive(), workload))
                histories, digests = await read_back(self._config, self._alive(), workload)
            file_reads = await read_files(self._config, self._alive(), workload, uploads.records)
            if self._o.inject_fault == "forget_file":
                self._say("injected fault: " + forget_file(file_reads, uploads.records))
            await cancel_all([side[-1]])
            findings = check(
                sends=workload.sends,
                receipts=workload.receipts,
                rooms=workload.rooms,
                devices={u.user_id: [name for name, _ in u.devices] for u in workload.users},
                histories=histories,
                digests=digests,
                marks=self.marks,
                probes=self.probes,
                end=end,
                max_outage_limit_s=self._o.max_outage_s,
                files=uploads.records,
                file_reads=file_reads,
            )
        finally:
            await workload.close()
            self._cluster.stop()
        return DrillResult(
            options=self._o,
            command=self._command,
            started_at=started_at,
            dcs=[d.name for d in self._config.dcs],
            marks=self.marks,
            findings=findings,
            back_at=self.back_at,
            elapsed_s=round(time.monotonic() - wall, 1),
        )

    # ---- disasters ----------------------------------------------------------------------------

    def _alive(self) -> list[str]:
        return [d.name for d in self._config.dcs if d.name not in self.burned]

    async def _start_cluster(self) -> tuple[str, float]:
        """Starts the drill's cluster; returns the wall-clock start (for the report) and the
        monotonic one (for the elapsed time)."""
        started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        wall = time.monotonic()
        self._say(f"starting a {len(self._config.dcs)}-DC cluster in {self._config.data_dir} ...")
        await self._cluster.start()
        return started_at, wall

    def _start_disasters(self) -> list[asyncio.Task[None]]:
        """Starts the clock and the disasters on their schedule (one task each)."""
        self._t0 = time.monotonic()
        self.phase = "running"
        return [
            asyncio.create_task(self._disaster(d)) for d in sorted(self._o.disasters, key=lambda d: d.at_s)
        ]

    async def _pick(self, which: str, exclude: tuple[str, ...] = ()) -> str:
        alive = [dc for dc in self._alive() if dc not in exclude]
        if which in alive:
            return which
        if which not in ("leader", "other"):
            raise FirebreakError(f"cannot pick DC {which!r}: alive are {alive}", code="invalid_disaster")
        leaders = await leadership.leaders(self._config)
        if which == "leader" and self.leader_stream is not None:
            lead = leaders.get(self.leader_stream)
            if lead is not None and lead in alive:
                return lead
        led: Counter[str | None] = Counter()
        for p, weight in self._weights.items():
            led[leaders.get(room_stream(p))] += weight
        ranked = sorted(alive, key=lambda dc: (-led[dc], dc))
        return ranked[0] if which == "leader" else ranked[-1]

    async def _disaster(self, d: Disaster) -> None:
        delay = d.at_s - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)
        if d.kind == "fire":
            dc = await self._pick(d.dc)
            self._burn(dc)
        elif d.kind == "double_fire":
            first = await self._pick(d.dc)
            second = await self._pick("other", exclude=(first,))
            self._burn(first, second)
        elif d.kind == "evacuate":
            dc = await self._pick(d.dc)
            await self._evacuate(dc)
        elif d.kind == "rebuild":
            for dc in [d.dc] if d.dc else list(self.burned):
                await self._rebuild(dc)
        elif d.kind == "partition":
            dc = await self._pick(d.dc, exclude=tuple(self.cut))
            self._partition(dc)
        elif d.kind == "heal":
            for dc in [d.dc] if d.dc else list(self.cut):
                await self._heal(dc)
        elif d.kind in LINK_KINDS:
            await self._slow.apply(d)

    def _sites(self) -> Sites:
        if self._cluster.sites is None:
            raise FirebreakError("a partition needs isolated DCs", code="invalid_disaster")
        return self._cluster.sites

    def _partition(self, dc: str) -> None:
        """Cuts ``dc`` off from every other DC; it keeps running and its clients stay attached.
        It refuses reads once it knows it is cut off, so no probe expects reads of it meanwhile."""
        self._sites().isolate(dc)
        self.cut.append(dc)
        self.serving.discard(dc)
        self._mark(f"partition {dc}", dc)

    async def _heal(self, dc: str) -> None:
        self._sites().rejoin(dc)
        self.cut.remove(dc)
        self._mark(f"heal {dc}", dc)
        await self._cluster.wait_ready([dc], within_s=120)
        self.serving.add(dc)
        self.back_at[dc] = round(self.clock(), 3)
        self._say(f"[{self.clock():6.1f}s] {dc} is serving again")

    def _burn(self, *dcs: str) -> None:
        for dc in dcs:
            self.serving.discard(dc)
            self._cluster.kill(dc, burn=True)
            self.burned.append(dc)
        self._mark(f"fire {' + '.join(dcs)}", ",".join(dcs))

    async def _evacuate(self, dc: str) -> None:
        """Drains ``dc`` first (its gateway tells the leader balancer at once, so no leader is
        moved back to it), then moves its leaders away and checks that none is left there."""
        self._mark(f"evacuate {dc}", dc)
        self.serving.discard(dc)  # a draining DC refuses reads by design: no probe expects them
        others = [x for x in self._alive() if x != dc]
        where = self._config.dc(dc)
        url = where.http_url
        # Every gateway process of the DC, at its own port where it has several.
        processes = [where.process_url(k) or url for k in range(1, where.gateways + 1)]
        async with httpx.AsyncClient(timeout=5) as http:
            await http.post(url + "/internal/drain", headers={"x-ops-token": self._config.secrets.ops_token})
            end = time.monotonic() + 10
            while time.monotonic() < end:
                leaders = await leadership.leaders(self._config)
                led = sorted(s for s, lead in leaders.items() if lead == dc)
                idle = all([(await http.get(p + "/healthz")).json()["connections"] == 0 for p in processes])
                if not led and idle:
                    break
                await leadership.move(self._config, {s: others[i % len(others)] for i, s in enumerate(led)})
                await asyncio.sleep(0.05)
        self._burn(dc)

    async def _rebuild(self, dc: str) -> None:
        alive = self._alive()
        if len(alive) < len(self._config.dcs) // 2 + 1:
            # No quorum: an empty node cannot rejoin (see LocalCluster.seed_from).
            self._mark(f"rebuild {dc} from {alive[0]}'s copy", dc)
            self._cluster.seed_from(dc, alive[0])
        else:
            self._mark(f"rebuild {dc}", dc)
        self._cluster.start_dc(dc)
        await self._cluster.wait_ready([dc], within_s=120)
        self.burned.remove(dc)
        self.serving.add(dc)
        self.back_at[dc] = round(self.clock(), 3)
        self._say(f"[{self.clock():6.1f}s] {dc} is serving again")

    # ---- progress and faults -------------------------------------------------------------

    async def _progress(self, workload: Workload) -> None:
        while True:
            await asyncio.sleep(1.0)
            acked = sum(1 for s in workload.sends if s.acked is not None)
            failed = sum(1 for s in workload.sends if s.failed is not None)
            self._say(
                f"[{self.clock():6.1f}s] {self.phase:28} sent {len(workload.sends):5} acked {acked:5} "
                f"failed {failed:4} in flight {workload.inflight():4} received {workload.received_count():6}"
            )
