"""The login drill's checker on hand-made records: failures counted by phase, the longest time
without a sign-in, and the verdict failing on a lost family or a code redeemed twice."""

from __future__ import annotations

from firebreak.drill.login_checker import check
from firebreak.drill.login_records import FamilyProbe, LoginRecord
from firebreak.drill.record import Mark

DCS = ("dc1", "dc2", "dc3")
FIRE = [Mark(10.0, "fire dc1", "dc1")]


def sign_in(at: float, family: str, code: str, *, ok: bool = True, took: float = 0.2) -> LoginRecord:
    return LoginRecord(
        "sign_in",
        "u",
        started=at,
        finished=at + took,
        ok=ok,
        error="" if ok else "unreachable",
        dc="dc2" if ok else "",
        code_dc="dc1",
        code=code,
        family=family if ok else "",
        generation=1 if ok else 0,
    )


def refresh(at: float, family: str, generation: int, *, ok: bool = True) -> LoginRecord:
    return LoginRecord(
        "refresh",
        "u",
        started=at,
        finished=at + 0.1,
        ok=ok,
        error="" if ok else "temporarily_unavailable",
        family=family,
        generation=generation + 1 if ok else generation,
    )


def all_good(*families: str) -> list[FamilyProbe]:
    return [
        FamilyProbe(f, dc, check, True) for f in families for dc in DCS for check in ("introspect", "refresh")
    ]


def test_a_clean_drill_passes_and_failures_are_counted_by_phase() -> None:
    records = [
        sign_in(1.0, "fa", "c1"),
        refresh(9.95, "fa", 1, ok=False),  # before the fire, though answered after it
        sign_in(11.0, "", "c2", ok=False),
        refresh(12.0, "fa", 1, ok=False),
        sign_in(13.0, "fb", "c3", took=5.0),
        refresh(14.0, "fa", 1),  # fa's last attempt acknowledged: checked
        refresh(19.0, "fb", 1, ok=False),  # fb's last attempt unanswered: in doubt, not checked
    ]
    findings = check(records=records, probes=all_good("fa"), marks=FIRE, end=20.0)
    v = findings.verdict
    assert v.passed, (v, findings.examples)
    assert (v.sign_ins, v.sign_ins_failed, v.refreshes, v.refreshes_failed) == (3, 1, 4, 3)
    assert (v.families, v.families_checked, v.families_in_doubt, v.lost_families) == (2, 1, 1, 0)
    before, after = findings.phases
    assert (before.label, before.sign_ins_failed, before.refreshes_failed) == ("before", 0, 1)
    assert (after.label, after.sign_ins, after.sign_ins_failed, after.refreshes_failed) == (
        "after fire dc1",
        2,
        1,
        2,
    )
    assert (after.slowest_sign_in_s, after.slowest_refresh_s) == (5.0, 0.1)
    # No sign-in acknowledged from 1.2 s (fa) until 18.0 s (fb).
    assert v.longest_sign_in_outage_s == 16.8


def test_a_family_refused_after_the_drill_fails_the_verdict() -> None:
    records = [sign_in(1.0, "fa", "c1"), sign_in(2.0, "fb", "c2"), refresh(3.0, "fb", 1)]
    probes = [
        *all_good("fa"),
        FamilyProbe("fb", "dc1", "introspect", True),
        FamilyProbe("fb", "dc2", "refresh", False, "invalid_grant"),
    ]
    v = check(records=records, probes=probes, marks=[], end=5.0).verdict
    assert not v.passed and v.lost_families == 1 and v.refused_checks == 1


def test_an_acknowledged_family_never_checked_fails_the_verdict() -> None:
    records = [sign_in(1.0, "fa", "c1"), sign_in(2.0, "fb", "c2")]
    v = check(records=records, probes=all_good("fa"), marks=[], end=5.0).verdict
    assert not v.passed and v.lost_families == 1


def test_a_code_redeemed_twice_fails_the_verdict() -> None:
    records = [sign_in(1.0, "fa", "c1"), sign_in(2.0, "fb", "c1")]
    v = check(records=records, probes=all_good("fa", "fb"), marks=[], end=5.0).verdict
    assert not v.passed and v.codes_redeemed_twice == 1 and v.lost_families == 0


def test_nothing_checked_is_no_pass() -> None:
    records = [sign_in(1.0, "fa", "c1"), refresh(2.0, "fa", 1, ok=False)]
    v = check(records=records, probes=all_good("fa"), marks=[], end=5.0).verdict
    assert not v.passed and v.families_checked == 0
