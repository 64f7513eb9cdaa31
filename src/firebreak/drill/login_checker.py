"""The verdict of a login drill, from the sites' records and the checks after the drill. Pure.

* Failed sign-ins and refreshes are counted by phase (before the first disaster mark, then after
  each), by when the attempt started; so is the longest time no sign-in succeeded.
* 0 acknowledged state lost: every family whose last attempt was acknowledged (its newest
  refresh token is the current one) must pass every check at every serving DC after the drill
  (refresh token active at introspection, access token accepted by userinfo, a refresh at each DC
  in turn); a family whose last attempt went unanswered is only counted ("in doubt").
* No code redeemed twice: no two acknowledged sign-ins from one code.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import msgspec

from firebreak.drill.login_records import FamilyProbe, LoginRecord
from firebreak.drill.record import Mark


class LoginPhase(msgspec.Struct):
    label: str
    start: float
    end: float
    sign_ins: int
    sign_ins_failed: int
    refreshes: int
    refreshes_failed: int
    #: the slowest acknowledged sign-in (authorize to tokens, retries included), seconds
    slowest_sign_in_s: float
    #: the slowest acknowledged refresh, seconds
    slowest_refresh_s: float


class LoginVerdict(msgspec.Struct):
    sign_ins: int
    sign_ins_failed: int
    refreshes: int
    refreshes_failed: int
    #: the longest stretch (s) between the start and the end of the workload without a sign-in
    #: being acknowledged
    longest_sign_in_outage_s: float
    families: int
    #: families checked after the drill (their last attempt was acknowledged)
    families_checked: int
    families_in_doubt: int
    #: checked families with any check refused at any DC
    lost_families: int
    #: individual checks (introspect, userinfo, refresh at one DC) that failed
    refused_checks: int
    codes_redeemed_twice: int
    #: acknowledged sign-ins whose code was exchanged at the DC that issued it (allowed: the
    #: other DCs were not answering)
    exchanged_at_issuer: int
    dcs_checked: list[str]
    passed: bool


class LoginFindings(msgspec.Struct):
    verdict: LoginVerdict
    phases: list[LoginPhase]
    examples: dict[str, list[str]]
    #: failed attempts by their last error
    errors: dict[str, int]


def check(
    *, records: list[LoginRecord], probes: list[FamilyProbe], marks: list[Mark], end: float
) -> LoginFindings:
    examples: dict[str, list[str]] = defaultdict(list)

    def note(kind: str, what: str) -> None:
        if len(examples[kind]) < 5:
            examples[kind].append(what)

    sign_ins = [r for r in records if r.kind == "sign_in"]
    refreshes = [r for r in records if r.kind == "refresh"]

    bounds = [0.0, *(m.at for m in marks), max(end, *(r.started for r in records), 0.0) + 1e-9]
    labels = ["before", *(f"after {m.label}" for m in marks)]
    phases = []
    for label, lo, hi in zip(labels, bounds, bounds[1:], strict=False):
        s = [r for r in sign_ins if lo <= r.started < hi]
        f = [r for r in refreshes if lo <= r.started < hi]
        slow = max((r.finished - r.started for r in s if r.ok), default=0.0)
        slow_refresh = max((r.finished - r.started for r in f if r.ok), default=0.0)
        phases.append(
            LoginPhase(
                label,
                round(lo, 2),
                round(hi, 2),
                len(s),
                sum(1 for r in s if not r.ok),
                len(f),
                sum(1 for r in f if not r.ok),
                round(slow, 2),
                round(slow_refresh, 2),
            )
        )

    done = sorted(r.finished for r in sign_ins if r.ok)
    first = min((r.started for r in records), default=0.0)
    last = max([end, *(r.finished for r in records)])
    gaps = [b - a for a, b in zip([first, *done], [*done, last], strict=True)]
    outage = max(gaps, default=0.0)

    redeemed = Counter(r.code for r in sign_ins if r.ok)
    twice = sum(1 for n in redeemed.values() if n > 1)
    for code, n in redeemed.items():
        if n > 1:
            note("codes_redeemed_twice", f"code {code} x{n}")

    last_attempt: dict[str, LoginRecord] = {}
    for r in sorted(records, key=lambda r: r.finished):
        if r.family:
            last_attempt[r.family] = r
    families = {r.family for r in records if r.family and r.ok}
    by_family: dict[str, list[FamilyProbe]] = defaultdict(list)
    for p in probes:
        by_family[p.family].append(p)
    refused = sum(1 for p in probes if not p.ok)
    lost = 0
    checked = 0
    for fam in sorted(families):
        if not last_attempt[fam].ok:
            continue
        checked += 1
        bad = [p for p in by_family.get(fam, []) if not p.ok]
        if bad or not by_family.get(fam):
            lost += 1
            what = ", ".join(f"{p.check}@{p.dc}: {p.error}" for p in bad) or "never checked"
            note("lost_families", f"{fam} gen {last_attempt[fam].generation}: {what}")

    dcs = sorted({p.dc for p in probes})
    verdict = LoginVerdict(
        sign_ins=len(sign_ins),
        sign_ins_failed=sum(1 for r in sign_ins if not r.ok),
        refreshes=len(refreshes),
        refreshes_failed=sum(1 for r in refreshes if not r.ok),
        longest_sign_in_outage_s=round(outage, 2),
        families=len(families),
        families_checked=checked,
        families_in_doubt=len(families) - checked,
        lost_families=lost,
        refused_checks=refused,
        codes_redeemed_twice=twice,
        exchanged_at_issuer=sum(1 for r in sign_ins if r.ok and r.dc == r.code_dc),
        dcs_checked=dcs,
        passed=False,
    )
    verdict.passed = lost == 0 and twice == 0 and checked > 0 and bool(dcs)
    errors = Counter(f"{r.kind} {r.error}" for r in records if not r.ok)
    return LoginFindings(verdict=verdict, phases=phases, examples=dict(examples), errors=dict(errors))
