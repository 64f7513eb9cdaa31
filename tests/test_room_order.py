"""client/room_order.py: one caller's sends to a room keep the order they were given across the
socket and HTTP. A send over HTTP waits for every earlier one of the room, whatever the order in
which their callers get there; once one goes over HTTP, later ones may not take the socket."""

from __future__ import annotations

import asyncio

from firebreak.client.room_order import Place, RoomOrder


async def _http_send(
    order: RoomOrder,
    place: Place,
    name: str,
    ran: list[str],
    go: asyncio.Event,
    started: asyncio.Event | None = None,
) -> None:
    try:
        await order.http_turn(place)
        ran.append(name)
        if started is not None:
            started.set()
        await go.wait()
    finally:
        order.leave(place)


async def _answered_on_socket(order: RoomOrder, place: Place, ran: list[str], ack: asyncio.Event) -> None:
    await ack.wait()
    ran.append("socket send answered")
    order.leave(place)


async def test_http_sends_go_in_the_order_given_not_the_order_they_ask() -> None:
    order = RoomOrder()
    places = {name: order.join("r") for name in ("a", "b", "c")}
    ran: list[str] = []
    go = asyncio.Event()
    # Their callers ask in the opposite order (e.g. different deadlines wake them differently).
    tasks = [asyncio.create_task(_http_send(order, places[n], n, ran, go)) for n in ("c", "b", "a")]
    go.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert ran == ["a", "b", "c"]
    assert not order.busy("r"), "the room's order is gone with its last send"


async def test_an_http_send_waits_for_the_earlier_socket_ones() -> None:
    order = RoomOrder()
    on_socket = order.join("r")
    assert order.may_take_socket(on_socket) and not order.follows_socket(on_socket)
    attachment = order.join("r")  # goes over HTTP whatever the socket's state
    ran: list[str] = []
    go, ack = asyncio.Event(), asyncio.Event()
    go.set()
    tasks = [
        asyncio.create_task(_http_send(order, attachment, "attachment sent", ran, go)),
        asyncio.create_task(_answered_on_socket(order, on_socket, ran, ack)),
    ]
    ack.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert ran == ["socket send answered", "attachment sent"]


async def test_a_send_handed_back_closes_the_socket_to_later_ones_at_once() -> None:
    order = RoomOrder()
    first, second = order.join("r"), order.join("r")
    assert order.may_take_socket(second) and order.follows_socket(second)
    first.to_http()  # LiveSends hands its command back, before its caller runs again
    assert not order.may_take_socket(second)
    assert order.may_take_socket(order.join("s")), "other rooms are not held"


async def test_a_caller_that_gives_up_lets_the_next_go() -> None:
    order = RoomOrder()
    first, second = order.join("r"), order.join("r")
    ran: list[str] = []
    never, go, first_started = asyncio.Event(), asyncio.Event(), asyncio.Event()
    go.set()
    giving_up = asyncio.create_task(_http_send(order, first, "first", ran, never, first_started))
    waiting = asyncio.create_task(_http_send(order, second, "second", ran, go))
    await asyncio.wait_for(first_started.wait(), 5)
    giving_up.cancel()  # its caller gave up while its request ran
    await asyncio.wait_for(waiting, 5)
    assert ran == ["first", "second"] and not order.busy("r")
