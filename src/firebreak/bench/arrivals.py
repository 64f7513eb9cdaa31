"""What the bench's live sockets received: per message (by client id), how many sockets had it
and when the last did. The main process and each listener process (bench/listeners.py) keep one."""

from __future__ import annotations

import asyncio
import time

import msgspec

from firebreak.bench.listener_wire import Arrival
from firebreak.bench.load_shapes import SeenFrame

decode_frame = msgspec.json.Decoder(SeenFrame).decode


class Arrivals:
    def __init__(self) -> None:
        #: by the message's client id
        self.seen: dict[str, Arrival] = {}

    def hear(self, frame: SeenFrame) -> bool:
        """Counts the messages ``frame`` delivers (at ``time.perf_counter()``: the system's monotonic
        clock, the same in every process); False if it delivers none (an ack, ``ready``, ...).
        Runs once per delivered frame, on the event loop: kept minimal."""
        data = frame.data
        if data is None:
            return False
        now = time.perf_counter()
        for one in data if isinstance(data, list) else (data,):
            if one.event.type == "message_sent":
                seen = self.seen.get(one.event.client_id)
                if seen is None:
                    self.seen[one.event.client_id] = Arrival(1, now)
                else:
                    seen.count += 1
                    seen.last = now
        return True

    def deliveries(self) -> int:
        return sum(a.count for a in self.seen.values())


class ReadyFrames:
    """Counts a process's ``ready`` frames (one per socket, once it is live), so that set-up can
    wait until a number of its sockets are."""

    def __init__(self) -> None:
        self.count = 0
        self._want = 0
        self._reached = asyncio.Event()

    def heard(self) -> None:
        self.count += 1
        if self.count >= self._want:
            self._reached.set()

    async def until(self, count: int, within_s: float) -> None:
        """Returns once ``count`` have been heard in all (TimeoutError after ``within_s``)."""
        self._want = count
        self._reached.clear()
        if self.count < count:
            await asyncio.wait_for(self._reached.wait(), within_s)
