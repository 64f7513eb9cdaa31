"""The simulated users of a drill: seeded, bounded, using the project's own client library.

Each user is homed on a DC (round-robin) but knows every DC. Users chat in group and 1:1 rooms;
the first ``second_devices`` users also have a second device connected to the next DC. Sends follow
an open-loop schedule (``rate`` per second over all users); one user's sends go out one at a time,
in order, each retried (same client id, any DC) until acknowledged or ``send_deadline_s`` passes.
Devices record every message they receive, and each user's first device marks messages read.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from firebreak.client import ApiError, Client, LiveConnection
from firebreak.client.client import ANSWERED_BY
from firebreak.config import Config
from firebreak.domain.events import MessageSent
from firebreak.drill.plan import DrillOptions
from firebreak.drill.record import Receipt, SendRecord
from firebreak.errors import FirebreakError
from firebreak.tasks import cancel_all, stop_all

PASSWORD = "drill password"


@dataclass
class SimUser:
    name: str
    home: int
    client: Client
    user_id: str = ""
    rooms: list[str] = field(default_factory=list)
    devices: list[tuple[str, LiveConnection]] = field(default_factory=list)
    outbox: asyncio.Queue[SendRecord] = field(default_factory=asyncio.Queue)


class Workload:
    def __init__(self, config: Config, options: DrillOptions, clock: Callable[[], float]) -> None:
        self._config = config
        self._o = options
        self._clock = clock
        self._rng = random.Random(options.seed)
        self.users: list[SimUser] = []
        #: room_id -> member user ids (membership is fixed during a drill).
        self.rooms: dict[str, list[str]] = {}
        self.sends: list[SendRecord] = []
        self.receipts: list[Receipt] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._dc_of_url = {d.http_url: d.name for d in config.dcs}

    # ---- setup --------------------------------------------------------------------------------

    async def setup(self) -> None:
        dcs = self._config.dcs
        urls = [d.http_url for d in dcs]
        for i in range(self._o.users):
            user = SimUser(
                name=f"sim{i}",
                home=i % len(dcs),
                client=Client(urls, preferred=i % len(dcs), retry_deadline=60),
            )
            await user.client.register(user.name, PASSWORD)
            session = await user.client.login(user.name, PASSWORD)
            user.user_id = session.user.user_id
            self.users.append(user)
        by_id = {u.user_id: u for u in self.users}
        for g in range(self._o.group_rooms):
            chosen = self._rng.sample(self.users, self._o.room_size)
            invited = [m.name for m in chosen[1:]]
            room = await chosen[0].client.create_group(f"group {g}", invited, f"drill-g{g}")
            self.rooms[room.room_id] = [m.user_id for m in chosen]
        pairs: set[tuple[int, int]] = set()
        while len(pairs) < min(self._o.direct_rooms, self._o.users * (self._o.users - 1) // 2):
            a, b = sorted(self._rng.sample(range(self._o.users), 2))
            pairs.add((a, b))
        for a, b in sorted(pairs):
            room = await self.users[a].client.open_direct(self.users[b].name)
            self.rooms[room.room_id] = [self.users[a].user_id, self.users[b].user_id]
        for room_id, members in self.rooms.items():
            for uid in members:
                by_id[uid].rooms.append(room_id)
        ws = [d.ws_url for d in dcs]
        for i, user in enumerate(self.users):
            homes = [user.home] + ([(user.home + 1) % len(dcs)] if i < self._o.second_devices else [])
            for k, home in enumerate(homes):
                live = LiveConnection(ws, user.client.current_token, preferred=home).start()
                user.devices.append((f"{user.name}/{k}", live))
                self._tasks.append(asyncio.create_task(self._receive(user, k, live)))
        await asyncio.gather(
            *(asyncio.wait_for(live.live.wait(), 30) for u in self.users for _, live in u.devices)
        )
        for user in self.users:
            user.client.retry_deadline = self._o.send_deadline_s

    # ---- running ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Schedules sends until the duration ends (or ``stop``), then gives the outboxes one more
        send deadline to empty; whatever is still queued after that was never tried."""
        workers = [asyncio.create_task(self._worker(u)) for u in self.users if u.rooms]
        senders = [u for u in self.users if u.rooms]
        for k in range(int(self._o.rate * self._o.duration_s)):
            delay = k / self._o.rate - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if stop.is_set():
                break
            user = self._rng.choice(senders)
            room = self._rng.choice(user.rooms)
            record = SendRecord(user.user_id, f"s{self._o.seed}-{k}", room, scheduled=self._clock())
            self.sends.append(record)
            user.outbox.put_nowait(record)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(u.outbox.join() for u in senders)), self._o.send_deadline_s + 5
            )
        await stop_all(workers)
        for record in self.sends:
            if record.acked is None and record.failed is None:
                record.error = "not_attempted" if record.started is None else "cancelled"

    async def _worker(self, user: SimUser) -> None:
        pad = "x" * self._o.message_size
        while True:
            record = await user.outbox.get()
            record.started = self._clock()
            try:
                text = (f"{user.name} {record.client_id} " + pad)[: self._o.message_size]
                try:
                    answer: dict[str, str] = {}
                    result = await user.client.send(
                        record.room_id, text, client_id=record.client_id, answer_headers=answer
                    )
                    record.acked = self._clock()
                    record.room_seq = result.message.room_seq
                    record.dc = self._dc_of_url.get(answer.get(ANSWERED_BY, ""), "?")
                except FirebreakError as exc:
                    record.failed = self._clock()
                    record.error = exc.code
            finally:
                user.outbox.task_done()

    async def _receive(self, user: SimUser, device: int, live: LiveConnection) -> None:
        name = f"{user.name}/{device}"
        unread_since_mark = 0
        while True:
            item = await live.events.get()
            e = item.event
            if not isinstance(e, MessageSent):
                continue
            self.receipts.append(
                Receipt(name, user.user_id, e.room_id, e.sender, e.client_id, item.room_seq, self._clock())
            )
            if device == 0 and e.sender != user.user_id:
                unread_since_mark += 1
                if unread_since_mark >= 4:
                    unread_since_mark = 0
                    self._tasks.append(asyncio.create_task(self._mark(user, e.room_id, item.room_seq)))

    async def _mark(self, user: SimUser, room_id: str, room_seq: int) -> None:
        # Marking read is background noise for the drill: failures during a fire are expected and
        # judged nowhere (the verdict is about messages).
        with contextlib.suppress(ApiError, FirebreakError):
            await user.client.mark_read(room_id, room_seq)

    def devices_of(self, members: list[str]) -> list[str]:
        names = set(members)
        return [name for u in self.users if u.user_id in names for name, _ in u.devices]

    def received_count(self) -> int:
        return len(self.receipts)

    def inflight(self) -> int:
        return sum(1 for r in self.sends if r.acked is None and r.failed is None)

    async def close(self) -> None:
        await cancel_all(self._tasks)
        for user in self.users:
            for _, live in user.devices:
                await live.close()
            await user.client.aclose()
