"""The leader balancer's rule: leaders spread evenly over the DCs that may lead, never elsewhere."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from firebreak.domain.placement import moves

DCS = ["dc1", "dc2", "dc3"]


def _apply(leaders: dict[str, str | None], planned: list[tuple[str, str]]) -> dict[str, str | None]:
    after = dict(leaders)
    for stream, target in planned:
        after[stream] = target
    return after


def test_all_leaders_on_one_dc_are_spread() -> None:
    leaders: dict[str, str | None] = {s: "dc1" for s in ["ACCOUNTS", "ROOMS_0", "ROOMS_1", "ROOMS_2"]}
    after = _apply(leaders, moves(leaders, DCS))
    assert sorted(Counter(after.values()).values()) == [1, 1, 2]


def test_balanced_leaders_stay_where_they_are() -> None:
    leaders: dict[str, str | None] = {"A": "dc1", "B": "dc2", "C": "dc3", "D": "dc1"}
    assert moves(leaders, DCS) == []


def test_a_dc_that_may_not_lead_loses_its_leaders_and_gets_none() -> None:
    leaders: dict[str, str | None] = {"A": "dc3", "B": "dc3", "C": "dc1", "D": "dc2"}
    planned = moves(leaders, ["dc1", "dc2"])
    assert {s for s, _ in planned} == {"A", "B"}
    assert "dc3" not in _apply(leaders, planned).values()


@given(
    st.dictionaries(st.sampled_from([f"S{i}" for i in range(8)]), st.sampled_from([*DCS, "dc4", None])),
    st.lists(st.sampled_from(DCS), min_size=1, unique=True),
)
def test_the_plan_always_ends_balanced_over_the_eligible(
    leaders: dict[str, str | None], eligible: list[str]
) -> None:
    planned = moves(leaders, eligible)
    after = _apply(leaders, planned)
    led = Counter(dc for dc in after.values() if dc is not None)
    assert set(led) <= set(eligible), "no stream is led by a DC that may not lead"
    counts = [led.get(dc, 0) for dc in eligible]
    assert max(counts) - min(counts) <= 1
    assert moves(after, eligible) == [], "a balanced layout plans nothing"
    assert all(after[s] is None for s in leaders if leaders[s] is None), "leaderless streams are left alone"
    assert len(planned) == len({s for s, _ in planned}), "each stream moves at most once"


@given(
    st.dictionaries(st.sampled_from([f"S{i}" for i in range(8)]), st.sampled_from([*DCS, "dc4", None])),
    st.lists(st.sampled_from(DCS), min_size=1, unique=True),
    st.lists(st.sampled_from([*DCS, "dc4"]), unique=True),
)
def test_a_waiting_dcs_leaders_never_move_and_it_gets_none(
    leaders: dict[str, str | None], eligible: list[str], keeping: list[str]
) -> None:
    keeping = [dc for dc in keeping if dc not in eligible]
    planned = moves(leaders, eligible, keeping)
    assert not any(leaders[s] in keeping for s, _ in planned), "a waiting DC keeps what it leads"
    assert not any(target in keeping for _, target in planned), "and is given nothing"
    after = _apply(leaders, planned)
    led = Counter(dc for dc in after.values() if dc is not None and dc not in keeping)
    assert set(led) <= set(eligible)
    counts = [led.get(dc, 0) for dc in eligible]
    assert max(counts) - min(counts) <= 1
