"""A connection's held sends (domain/send_order.py): once a room's send is not taken, the room's
later sends are taken only after the refused ones come again, oldest first; other rooms go on."""

from __future__ import annotations

from firebreak.domain.send_order import SendOrder


def _never(client_id: str) -> bool:
    return False


def test_nothing_held_takes_everything() -> None:
    order = SendOrder(10)
    assert all(order.may_take("g_a", f"c{i}", _never) for i in range(5))
    assert order.holding("g_a") == 0


def test_the_refused_must_come_again_oldest_first_and_others_wait_behind_them() -> None:
    order = SendOrder(10)
    order.refused("g_a", "c1")
    order.refused("g_a", "c2")
    assert not order.may_take("g_a", "c3", _never), "a later send waits"
    assert not order.may_take("g_a", "c2", _never), "a refused one waits for the older ones"
    assert order.may_take("g_b", "x1", _never), "another room is not held"
    assert order.may_take("g_a", "c1", _never)
    assert not order.may_take("g_a", "c3", _never), "c2 is still held ahead of it"
    assert order.may_take("g_a", "c2", _never)
    assert order.may_take("g_a", "c3", _never), "c3 was held when refused: its turn now"
    assert order.holding("g_a") == 0
    assert order.may_take("g_a", "c4", _never)


def test_held_sends_stored_meanwhile_no_longer_hold_the_others() -> None:
    order = SendOrder(10)
    order.refused("g_a", "c1")
    order.refused("g_a", "c2")
    over_http = {"c1"}
    assert not order.may_take("g_a", "c3", over_http.__contains__)
    assert order.holding("g_a") == 2, "c1 let go; c2 and now c3 held"
    over_http.add("c2")
    assert order.may_take("g_a", "c3", over_http.__contains__)
    assert order.holding("g_a") == 0


def test_a_refused_send_is_held_once_and_at_most_max_held() -> None:
    order = SendOrder(3)
    for client_id in ("c1", "c1", "c2", "c3", "c4"):
        order.refused("g_a", client_id)
    assert order.holding("g_a") == 3
    for client_id in ("c1", "c2", "c3"):
        assert order.may_take("g_a", client_id, _never)
    assert order.may_take("g_a", "c4", _never), "past the bound a refusal is not remembered"
