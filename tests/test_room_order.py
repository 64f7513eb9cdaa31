"""client/room_order.py: a room's sends over HTTP run one at a time, in the order they joined its
line, and the line says it is busy from the moment the first joins until the last is answered."""

from __future__ import annotations

import asyncio

from firebreak.client.room_order import HttpLine


async def test_a_rooms_http_sends_run_one_at_a_time_in_order() -> None:
    line = HttpLine()
    ran: list[str] = []
    started = {name: asyncio.Event() for name in ("a", "b", "c")}
    gates = {name: asyncio.Event() for name in ("a", "b", "c")}

    async def send(name: str) -> None:
        async with line.turn("r"):
            ran.append(f"{name} starts")
            started[name].set()
            await gates[name].wait()
            ran.append(f"{name} ends")

    assert not line.busy("r")
    tasks = [asyncio.create_task(send(name)) for name in ("a", "b", "c")]
    await asyncio.wait_for(started["a"].wait(), 5)
    assert line.busy("r") and not line.busy("s"), "only the room with sends in line is busy"
    for name in ("c", "b", "a"):  # released out of order: they still run in the order they came
        gates[name].set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert ran == ["a starts", "a ends", "b starts", "b ends", "c starts", "c ends"]
    assert not line.busy("r"), "the line ends with its last send"


async def test_rooms_lines_do_not_wait_for_each_other() -> None:
    line = HttpLine()
    held = asyncio.Event()
    started = {room: asyncio.Event() for room in ("r", "s")}

    async def send(room: str) -> None:
        async with line.turn(room):
            started[room].set()
            await held.wait()

    tasks = [asyncio.create_task(send(room)) for room in ("r", "s")]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started.values())), 5)
    held.set()
    await asyncio.gather(*tasks)
