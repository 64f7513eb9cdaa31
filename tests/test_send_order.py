"""A connection's held sends (domain/send_order.py): once a room's send is not taken, the room's
sends that arrived after it are taken only once the refused ones have come again, in the order
first sent, whatever order they come back in; other rooms go on; a send refused for good, a
stored one, a lapse and the cap let the hold go."""

from __future__ import annotations

from firebreak.domain.send_order import SendOrder

A, B = "g_" + "a" * 24, "g_" + "b" * 24


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _never(client_id: str) -> bool:
    return False


def _order(max_held: int = 10, clock: _Clock | None = None) -> SendOrder:
    return SendOrder(max_held, 30.0, clock or _Clock())


def test_nothing_held_takes_everything() -> None:
    order = _order()
    assert all(order.may_take(A, f"c{i}", order.arrive(), _never) for i in range(5))
    assert order.holding(A) == 0


def test_the_refused_are_taken_in_the_order_first_sent_whatever_order_they_come_back_in() -> None:
    order = _order()
    first, second, third = order.arrive(), order.arrive(), order.arrive()
    order.refused(A, "c2", second)
    order.refused(A, "c1", first)  # its append failed after c2 was refused: it still goes first
    assert not order.may_take(A, "c3", third, _never), "a later send waits"
    assert not order.may_take(A, "c2", order.arrive(), _never), "c2 waits for c1, sent before it"
    assert order.may_take(B, "x1", order.arrive(), _never), "another room is not held"
    assert not order.may_take(A, "c3", order.arrive(), _never), "c3 is held behind c2"
    assert order.may_take(A, "c1", order.arrive(), _never)
    assert order.may_take(A, "c2", order.arrive(), _never)
    assert order.may_take(A, "c3", order.arrive(), _never)
    assert order.holding(A) == 0
    assert order.may_take(A, "c4", order.arrive(), _never)


def test_a_send_that_arrived_before_a_refused_one_still_goes() -> None:
    order = _order()
    earlier, later = order.arrive(), order.arrive()
    order.refused(A, "c2", later)  # refused on arrival while c1 waited to start
    assert order.may_take(A, "c1", earlier, _never)
    assert order.holding(A) == 1


def test_held_sends_stored_meanwhile_or_refused_for_good_no_longer_hold_the_others() -> None:
    order = _order()
    order.refused(A, "c1", order.arrive())
    order.refused(A, "c2", order.arrive())
    order.refused(A, "c3", order.arrive())
    over_http = {"c1"}
    assert not order.may_take(A, "c4", order.arrive(), over_http.__contains__)
    assert order.holding(A) == 3, "c1 let go; c2, c3 and now c4 held"
    order.settled(A, "c2")  # sent again and refused for good (say, 404): never stored
    assert not order.may_take(A, "c4", order.arrive(), _never), "c3 is still held"
    over_http.add("c3")
    assert order.may_take(A, "c4", order.arrive(), over_http.__contains__)
    assert order.holding(A) == 0


def test_a_send_taken_again_and_failing_again_is_held_by_its_first_arrival() -> None:
    order = _order()
    s1, s2 = order.arrive(), order.arrive()
    order.refused(A, "s1", s1)
    assert not order.may_take(A, "s2", s2, _never)
    first = order.may_take(A, "s1", order.arrive(), _never)
    assert first == s1, "taken, with the arrival to hold it by should it fail"
    order.refused(A, "s1", first)  # its append failed at the write deadline
    assert not order.may_take(A, "s2", order.arrive(), _never), "s2 still waits for s1"
    assert order.may_take(A, "s1", order.arrive(), _never)
    assert order.may_take(A, "s2", order.arrive(), _never)


def test_a_hold_lapses_when_its_oldest_does_not_come_again_for_the_lapse() -> None:
    clock = _Clock()
    order = _order(clock=clock)
    order.refused(A, "c1", order.arrive())
    order.refused(A, "c2", order.arrive())
    clock.now += 29
    assert order.may_take(A, "c1", order.arrive(), _never), "in time: c1 is taken and the hold moves on"
    clock.now += 29
    order.refused(A, "c2", order.arrive())  # the oldest came again and was refused for now again
    clock.now += 29
    assert not order.may_take(A, "c3", order.arrive(), _never), "29 s since the oldest last came"
    clock.now += 2
    assert order.may_take(A, "c4", order.arrive(), _never), "31 s without c2: the client gave it up"
    assert order.holding(A) == 0


def test_at_most_max_rooms_held_and_lapsed_rooms_make_room() -> None:
    clock = _Clock()
    order = SendOrder(100, 30.0, clock, max_rooms=2)
    rooms = ["g_" + f"{i:024x}" for i in range(3)]
    order.refused(rooms[0], "c0", order.arrive())
    clock.now += 20
    order.refused(rooms[1], "c1", order.arrive())
    order.refused(rooms[2], "c2", order.arrive())
    assert [order.holding(r) for r in rooms] == [1, 1, 0], "the cap on rooms"
    clock.now += 11
    order.refused(rooms[2], "c2", order.arrive())
    assert [order.holding(r) for r in rooms] == [0, 1, 1], "the lapsed room made room"


def test_at_most_max_held_across_rooms_and_ids_that_are_no_ids_are_not_held() -> None:
    order = _order(max_held=3)
    order.refused(A, "c1", order.arrive())
    order.refused(A, "c1", order.arrive())
    order.refused(B, "x1", order.arrive())
    order.refused("g_nonsense", "y1", order.arrive())
    order.refused(A, "c" * 65, order.arrive())
    assert (order.holding(A), order.holding(B), order.holding("g_nonsense")) == (1, 1, 0)
    order.refused(A, "c2", order.arrive())
    order.refused(B, "x2", order.arrive())
    assert (order.holding(A), order.holding(B)) == (2, 1), "the third is the last held"
    assert order.may_take(A, "c1", order.arrive(), _never)
    assert order.may_take(A, "c2", order.arrive(), _never)
    assert order.may_take(B, "x1", order.arrive(), _never)
    assert order.may_take(B, "x2", order.arrive(), _never), "past the cap a refusal is not remembered"


def test_a_refusal_after_the_lapse_starts_a_hold_of_its_own() -> None:
    """A lapsed hold is not added to: the send refused now must still hold the next one."""
    clock = _Clock()
    order = _order(clock=clock)
    order.refused(A, "old", order.arrive())
    clock.now += 31
    x, y = order.arrive(), order.arrive()
    order.refused(A, "x", x)  # its append failed at the write deadline
    assert not order.may_take(A, "y", y, _never), "y arrived after x"
    assert order.may_take(A, "x", order.arrive(), _never)
    assert order.may_take(A, "y", order.arrive(), _never)
