"""The bank workload of a drill (``--workload bank``): seeded, bounded, through the project's client.

``wallets`` users, each homed on a DC (round-robin) but knowing every DC, are funded by the faucet
with ``initial_balance`` each. Transfers follow an open-loop schedule (``rate`` per second) between
random pairs, of random amounts up to ``max_transfer`` (so some are refused for want of funds);
each is retried with the same client_id on any DC until it has an answer or ``send_deadline_s``
passes. Meanwhile a few *movers* read their own wallet twice a second, each read at the next DC,
passing the position of their last read (``at_least``), and record what they saw.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import httpx
import msgspec

from firebreak.client import Client
from firebreak.config import Config
from firebreak.drill.plan import DrillOptions
from firebreak.errors import FirebreakError
from firebreak.tasks import stop_all
from firebreak.wire.wallet_views import WalletEntryView

PASSWORD = "drill password"
#: Transfers in flight at once over all wallets (the schedule is open-loop; this bounds memory).
MAX_IN_FLIGHT = 64
#: Wallets that move between DCs reading their balance.
MOVERS = 6


class TransferRecord(msgspec.Struct):
    payer: str
    payee: str
    amount: int
    client_id: str
    scheduled: float
    #: "accepted", "refused" (insufficient_funds), "failed" (no answer in time), or another code.
    outcome: str = ""
    seq: int = 0
    answered: float | None = None
    dc: str = ""


class WalletRead(msgspec.Struct, frozen=True):
    """One balance read by a mover."""

    wallet: str
    dc: str
    at: float
    position: int
    balance: int
    entries: int


class BankWorkload:
    def __init__(self, config: Config, options: DrillOptions, clock: Callable[[], float]) -> None:
        self._config = config
        self._o = options
        self._clock = clock
        self._rng = random.Random(options.seed)
        self.names: list[str] = []
        self.ids: list[str] = []
        self.clients: list[Client] = []
        #: user id -> faucet credit given at setup
        self.credits: dict[str, int] = {}
        self.transfers: list[TransferRecord] = []
        self.reads: list[WalletRead] = []
        self._dc_of_url = {d.http_url: d.name for d in config.dcs}

    # ---- setup --------------------------------------------------------------------------------

    async def setup(self) -> None:
        urls = [d.http_url for d in self._config.dcs]
        gate = asyncio.Semaphore(8)

        async def make(i: int) -> tuple[str, str, Client]:
            client = Client(urls, preferred=i % len(urls), retry_deadline=60)
            name = f"wallet{i}"
            async with gate:
                await client.register(name, PASSWORD)
                session = await client.login(name, PASSWORD)
            return name, session.user.user_id, client

        made = await asyncio.gather(*(make(i) for i in range(self._o.wallets)))
        self.names = [m[0] for m in made]
        self.ids = [m[1] for m in made]
        self.clients = [m[2] for m in made]
        headers = {"x-ops-token": self._config.secrets.ops_token}
        async with httpx.AsyncClient(timeout=30) as http:
            for i, name in enumerate(self.names):
                url = urls[i % len(urls)] + "/internal/wallet/faucet"
                body = {"username": name, "amount": self._o.initial_balance, "request_id": "drill-seed"}
                resp = await http.post(url, json=body, headers=headers)
                if resp.status_code not in (200, 201):
                    raise FirebreakError(f"faucet for {name}: {resp.status_code} {resp.text[:200]}")
                self.credits[self.ids[i]] = self._o.initial_balance
        for client in self.clients:
            client.retry_deadline = self._o.send_deadline_s

    # ---- running ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        movers = [asyncio.create_task(self._move(i)) for i in range(min(MOVERS, len(self.ids)))]
        tasks: list[asyncio.Task[None]] = []
        n = len(self.ids)
        for k in range(int(self._o.rate * self._o.duration_s)):
            delay = k / self._o.rate - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if stop.is_set():
                break
            a = self._rng.randrange(n)
            b = (a + 1 + self._rng.randrange(n - 1)) % n
            amount = self._rng.randint(1, self._o.max_transfer)
            record = TransferRecord(
                self.ids[a], self.ids[b], amount, f"b{self._o.seed}-{k}", scheduled=self._clock()
            )
            self.transfers.append(record)
            await gate.acquire()
            task = asyncio.create_task(self._transfer(a, b, record))
            task.add_done_callback(lambda _: gate.release())
            tasks.append(task)
        if tasks:
            await asyncio.wait(tasks, timeout=self._o.send_deadline_s + 5)
        await stop_all([*tasks, *movers])
        for record in self.transfers:
            if not record.outcome:
                record.outcome = "failed"

    async def _transfer(self, a: int, b: int, record: TransferRecord) -> None:
        client = self.clients[a]
        try:
            result = await client.transfer(self.names[b], record.amount, record.client_id)
            record.outcome, record.seq = "accepted", result.seq
        except FirebreakError as exc:
            record.outcome = (
                "refused"
                if exc.code == "insufficient_funds"
                else ("failed" if exc.status >= 500 else exc.code)
            )
        record.answered = self._clock()
        record.dc = self._dc_of_url.get(client.base_url, "?")

    async def _move(self, i: int) -> None:
        """Reads wallet ``i`` twice a second, at the next DC each time, never asking for less than
        the position of its last good read."""
        urls = [d.http_url for d in self._config.dcs]
        readers = []
        for url in urls:
            reader = Client([url], retry_deadline=0)
            reader.token = self.clients[i].token
            readers.append(reader)
        position, turn = 0, i
        try:
            while True:
                await asyncio.sleep(0.5)
                turn = (turn + 1) % len(readers)
                try:
                    seen = await readers[turn].wallet(at_least=position)
                except FirebreakError:
                    continue  # a burned or catching-up DC: the next read goes elsewhere
                position = seen.position
                self.reads.append(
                    WalletRead(
                        self.ids[i],
                        self._config.dcs[turn].name,
                        self._clock(),
                        seen.position,
                        seen.balance,
                        seen.entries,
                    )
                )
        finally:
            for reader in readers:
                await reader.aclose()

    # ---- reading back -------------------------------------------------------------------------

    async def history_at(self, dc_url: str, i: int) -> list[WalletEntryView]:
        """Wallet ``i``'s whole history as the DC at ``dc_url`` has it."""
        reader = Client([dc_url], retry_deadline=10)
        reader.token = self.clients[i].token
        try:
            entries: list[WalletEntryView] = []
            after = 0
            while True:
                page = await reader.wallet_history(after=after, limit=200)
                entries.extend(page.entries)
                if not page.more:
                    return entries
                after = page.entries[-1].n
        finally:
            await reader.aclose()

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()
