"""What each simulated client saw: its sends and what its devices received. Times are seconds
since the drill started, on one monotonic clock (everything runs in one process)."""

from __future__ import annotations

import msgspec


class SendRecord(msgspec.Struct):
    sender: str
    client_id: str
    room_id: str
    #: When the schedule produced it, and when the user's outbox actually began sending it.
    scheduled: float
    started: float | None = None
    acked: float | None = None
    failed: float | None = None
    error: str = ""
    room_seq: int = 0
    #: The DC that acknowledged it.
    dc: str = ""


class Receipt(msgspec.Struct, frozen=True):
    device: str
    user: str
    room_id: str
    sender: str
    client_id: str
    room_seq: int
    at: float


class Mark(msgspec.Struct, frozen=True):
    """A moment on the timeline: a disaster starting or finishing."""

    at: float
    label: str
    dc: str


class ReadProbe(msgspec.Struct, frozen=True):
    """One history read against a DC that was serving at the time."""

    at: float
    dc: str
    ok: bool
    latency: float
    error: str = ""


class HistoryEntry(msgspec.Struct, frozen=True):
    sender: str
    client_id: str
    room_seq: int
