"""Faults a chat drill injects on purpose (``--inject-fault``), to prove its checker catches them."""

from __future__ import annotations

import contextlib
import sqlite3

from firebreak.adapters import nats_connect, nats_log
from firebreak.bootstrap import read_model_path
from firebreak.config import Config
from firebreak.domain import events as ev
from firebreak.domain.ids import room_subject
from firebreak.drill.workload import Workload


async def inject_phantom(config: Config, alive: list[str], workload: Workload) -> str:
    """A message nobody sent, written straight into the log."""
    room_id, members = next(iter(workload.rooms.items()))
    event = ev.MessageSent(v=1, at=0, room_id=room_id, sender=members[0], client_id="ghost", text="boo")
    nc = await nats_connect.connect(config, prefer_dc=alive[0], name="drill-fault")
    try:
        log = nats_log.Log(nc, nc.jetstream())
        await log.append(room_subject(room_id, config.partitions), ev.encode(event), "ghost")
    finally:
        await nc.close()
    return "injected fault: a message nobody sent"


def forget_one(config: Config, alive: list[str], workload: Workload) -> str:
    """One DC's read model forgets an acknowledged message."""
    victim = alive[-1]
    sent = next(s for s in workload.sends if s.acked is not None)
    path = read_model_path(config, config.dc(victim))
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("DELETE FROM messages WHERE sender=? AND client_id=?", (sent.sender, sent.client_id))
        db.commit()
    return f"injected fault: {victim} forgot message {sent.client_id}"
