"""Runs a bank drill (``firebreak drill --workload bank``): a fresh local cluster, the bank
workload (drill/bank.py), the disasters on schedule (as in runner.py), then the bank checks."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time

import httpx
import msgspec

from firebreak.adapters import nats_connect, nats_log
from firebreak.bootstrap import read_model_path
from firebreak.domain import events as ev
from firebreak.domain.ids import WALLETS_STREAM, transfer_dedupe_id, wallet_subject
from firebreak.drill.bank import BankWorkload
from firebreak.drill.bank_checker import BankFindings, Histories, check
from firebreak.drill.plan import DrillOptions
from firebreak.drill.processes import every_process
from firebreak.drill.record import Mark
from firebreak.drill.runner import Drill
from firebreak.errors import FirebreakError
from firebreak.tasks import cancel_all
from firebreak.wire.wallet_views import LedgerTotals


class BankResult(msgspec.Struct):
    options: DrillOptions
    command: str
    started_at: str
    dcs: list[str]
    marks: list[Mark]
    findings: BankFindings
    back_at: dict[str, float]
    elapsed_s: float


class BankDrill(Drill):
    leader_stream = WALLETS_STREAM

    async def run_bank(self) -> BankResult:
        started_at, wall = await self._start_cluster()
        workload = BankWorkload(self._config, self._o, self.clock)
        try:
            self._say(f"setting up {self._o.wallets} wallets of {self._o.initial_balance} each ...")
            await workload.setup()
            side = self._start_disasters()
            progress = asyncio.create_task(self._bank_progress(workload))
            await workload.run(asyncio.Event())
            self.phase = "settling"
            for task in side:
                await task
            if self._o.inject_fault == "double":
                await self._double_one(workload)
            histories, totals = await self._settle_bank(workload)
            if self._o.inject_fault == "lose":
                self._lose_one(workload)
                histories, totals = await self._read_bank(workload)
            await cancel_all([progress])
            findings = check(
                transfers=workload.transfers,
                credits=workload.credits,
                histories=histories,
                totals=totals,
                reads=workload.reads,
            )
        finally:
            await workload.close()
            self._cluster.stop()
        return BankResult(
            options=self._o,
            command=self._command,
            started_at=started_at,
            dcs=[d.name for d in self._config.dcs],
            marks=self.marks,
            findings=findings,
            back_at=self.back_at,
            elapsed_s=round(time.monotonic() - wall, 1),
        )

    async def _bank_progress(self, workload: BankWorkload) -> None:
        while True:
            await asyncio.sleep(1.0)
            done = [t for t in workload.transfers if t.answered is not None]
            accepted = sum(1 for t in done if t.outcome == "accepted")
            self._say(
                f"[{self.clock():6.1f}s] {self.phase:28} transfers {len(workload.transfers):5} "
                f"answered {len(done):5} accepted {accepted:5} reads {len(workload.reads):5}"
            )

    async def _read_bank(self, workload: BankWorkload) -> tuple[Histories, list[LedgerTotals]]:
        histories: Histories = {}
        totals: list[LedgerTotals] = []
        headers = {"x-ops-token": self._config.secrets.ops_token}
        async with httpx.AsyncClient(timeout=10) as http:
            # Every gateway process's read model, where a DC has several (each at its own port).
            for label, url in self._processes():
                histories[label] = {
                    wallet: await workload.history_at(url, i) for i, wallet in enumerate(workload.ids)
                }
                resp = await http.get(url + "/internal/wallet/totals", headers=headers)
                totals.append(msgspec.convert(resp.json(), LedgerTotals))
        return histories, totals

    def _processes(self) -> list[tuple[str, str]]:
        """(label, URL) of every gateway process of the serving DCs."""
        return every_process(self._config.dc(dc) for dc in self._alive())

    async def _positions(self) -> set[int]:
        headers = {"x-ops-token": self._config.secrets.ops_token}
        out: set[int] = set()
        async with httpx.AsyncClient(timeout=10) as http:
            for _, url in self._processes():
                try:
                    resp = await http.get(url + "/internal/wallet/totals", headers=headers)
                    out.add(int(resp.json()["position"]))
                except (httpx.HTTPError, ValueError, KeyError):
                    out.add(-1)
        return out

    async def _settle_bank(self, workload: BankWorkload) -> tuple[Histories, list[LedgerTotals]]:
        """Waits (bounded) until every gateway process of every serving DC has applied the ledger
        to the same position."""
        end = time.monotonic() + self._o.settle_s
        for _ in range(int(self._o.settle_s * 2) + 1):
            if time.monotonic() > end or len(await self._positions()) <= 1:
                break
            await asyncio.sleep(0.5)
        return await self._read_bank(workload)

    async def _double_one(self, workload: BankWorkload) -> None:
        """Fault: an acknowledged transfer appended again under a new id (a retry that lost its id)."""
        for t in workload.transfers:
            if t.outcome != "accepted":
                continue
            payer = workload.ids.index(t.payer)
            if (await workload.clients[payer].wallet()).balance < t.amount:
                continue
            event = ev.TransferMade(
                v=1, at=0, payer=t.payer, payee=t.payee, amount=t.amount, client_id=t.client_id + "-again"
            )
            nc = await nats_connect.connect(self._config, prefer_dc=self._alive()[0], name="drill-fault")
            try:
                log = nats_log.Log(nc, nc.jetstream())
                await log.append(
                    wallet_subject(t.payer), ev.encode(event), transfer_dedupe_id(t.payer, event.client_id)
                )
            finally:
                await nc.close()
            self._say(f"injected fault: transfer {t.client_id} applied again")
            return
        raise FirebreakError("no accepted transfer to double")

    def _lose_one(self, workload: BankWorkload) -> None:
        """Fault: one read model (the last process's of the last serving DC) forgets the payee's
        side of an acknowledged transfer."""
        where = self._config.dc(self._alive()[-1])
        victim = where.label(where.gateways)
        t = next(t for t in workload.transfers if t.outcome == "accepted")
        path = read_model_path(self._config, where, where.gateways)
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute(
                "DELETE FROM wallet_entries WHERE user_id=? AND key=? AND kind='received'",
                (t.payee, t.client_id),
            )
            db.commit()
        self._say(f"injected fault: {victim} lost transfer {t.client_id}")
