"""The verdict of a drill, computed from what the clients recorded and what the DCs hold. Pure.

Truth is taken from two sides and compared (in the spirit of Jepsen): the clients' own records
(what was acknowledged to them, what their devices received) and each serving DC's read model
(room histories and a digest of every table).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

from firebreak.drill.files_checker import FileReads, FileRecord, check_files
from firebreak.drill.findings import Findings, Phase, RoomOutage, Second, Verdict, percentiles
from firebreak.drill.partition import minority_acks
from firebreak.drill.record import HistoryEntry, Mark, ReadProbe, Receipt, SendRecord

Key = tuple[str, str]  # (sender user id, client id)


def _inversions(seqs: list[int]) -> int:
    """How many neighbours are not strictly increasing."""
    return sum(1 for a, b in itertools.pairwise(seqs) if b <= a)


def check(
    *,
    sends: list[SendRecord],
    receipts: list[Receipt],
    rooms: dict[str, list[str]],
    devices: dict[str, list[str]],
    histories: dict[str, dict[str, list[HistoryEntry]]],
    digests: dict[str, str],
    marks: list[Mark],
    probes: list[ReadProbe],
    end: float,
    max_outage_limit_s: float | None = None,
    files: list[FileRecord] | None = None,
    file_reads: FileReads | None = None,
) -> Findings:
    by_key = {(s.sender, s.client_id): s for s in sends}
    acked = {k: s for k, s in by_key.items() if s.acked is not None}
    examples: dict[str, list[str]] = defaultdict(list)

    def note(kind: str, what: str) -> None:
        if len(examples[kind]) < 5:
            examples[kind].append(what)

    # ---- the DCs' histories ----------------------------------------------------------------
    # Distinct messages, however many DCs or devices show the same fault.
    lost: set[Key] = set()
    duplicated: set[Key] = set()
    never_sent: set[Key] = set()
    wrong_position = 0
    present: set[Key] = set()
    for dc, per_room in sorted(histories.items()):
        seen_here: set[Key] = set()
        for room_id, entries in per_room.items():
            counts = Counter((e.sender, e.client_id) for e in entries)
            for key, n in counts.items():
                if n > 1:
                    duplicated.add(key)
                    note("duplicated", f"{dc}: {key} x{n} in {room_id}")
            for e in entries:
                key = (e.sender, e.client_id)
                seen_here.add(key)
                if key not in by_key:
                    never_sent.add(key)
                    note("never_sent", f"{dc}: {key} in {room_id}")
                elif key in acked and acked[key].room_seq != e.room_seq:
                    wrong_position += 1
                    note("wrong_position", f"{dc}: {key} acked #{acked[key].room_seq}, stored #{e.room_seq}")
        present |= seen_here
        for key in acked.keys() - seen_here:
            lost.add(key)
            note("lost", f"{dc}: {key} acknowledged at {acked[key].acked:.2f}s, missing")
    reference = next(iter(sorted(histories.items())), (None, {}))[1]
    order_mismatch = sum(
        1
        for room_id in rooms
        if any(
            [(e.sender, e.client_id) for e in h.get(room_id, [])]
            != [(e.sender, e.client_id) for e in reference.get(room_id, [])]
            for h in histories.values()
        )
    )

    # ---- what devices received ---------------------------------------------------------------
    out_of_order = duplicate_deliveries = missing = 0
    got: dict[str, dict[str, list[Receipt]]] = defaultdict(lambda: defaultdict(list))
    for r in receipts:
        got[r.device][r.room_id].append(r)
        if (r.sender, r.client_id) not in by_key:
            never_sent.add((r.sender, r.client_id))
            note("never_sent", f"{r.device} received {(r.sender, r.client_id)}")
    for room_id, members in rooms.items():
        truth = [(e.sender, e.client_id) for e in reference.get(room_id, [])]
        for uid in members:
            for device in devices.get(uid, []):
                mine = got[device][room_id]
                keys = [(r.sender, r.client_id) for r in mine]
                dup = len(keys) - len(set(keys))
                duplicate_deliveries += dup
                seqs = [r.room_seq for r in mine]
                bad = _inversions(seqs)
                out_of_order += bad
                if bad:
                    note("out_of_order", f"{device} in {room_id}: {seqs[:20]}")
                missing_here = set(truth) - set(keys)
                missing += len(missing_here)
                if missing_here:
                    note("missing_deliveries", f"{device} never got {sorted(missing_here)[:3]} of {room_id}")

    # ---- per-sender order: a user's acknowledged sends in one room, in the order they started
    sender_order_broken = 0
    per_sender: dict[tuple[str, str], list[SendRecord]] = defaultdict(list)
    for s in acked.values():
        per_sender[(s.sender, s.room_id)].append(s)
    for (sender, room_id), records in per_sender.items():
        records.sort(key=lambda s: s.started or s.scheduled)
        seqs = [s.room_seq for s in records]
        bad = _inversions(seqs)
        sender_order_broken += bad
        if bad:
            note("sender_order_broken", f"{sender} in {room_id}: {seqs[:20]}")

    # ---- outages and latency ------------------------------------------------------------------
    waits_by_user: dict[str, float] = defaultdict(float)
    room_waits: dict[str, float] = defaultdict(float)
    room_failed: Counter[str] = Counter()
    for s in sends:
        if s.started is None:
            continue
        finished = s.acked if s.acked is not None else (s.failed if s.failed is not None else end)
        wait = finished - s.started
        waits_by_user[s.sender] = max(waits_by_user[s.sender], wait)
        room_waits[s.room_id] = max(room_waits[s.room_id], wait)
        if s.acked is None:
            room_failed[s.room_id] += 1
    delivered_at: dict[Key, list[float]] = defaultdict(list)
    delivery_waits: dict[str, float] = defaultdict(float)
    for r in receipts:
        key = (r.sender, r.client_id)
        delivered_at[key].append(r.at)
        sent = by_key.get(key)
        if sent is not None and sent.started is not None:
            delivery_waits[r.device] = max(delivery_waits[r.device], r.at - sent.started)
    expected_devices = {
        room_id: sum(len(devices.get(u, [])) for u in members) for room_id, members in rooms.items()
    }

    bounds = [0.0] + [m.at for m in marks] + [end]
    labels = [f"before {marks[0].label}" if marks else "steady"] + [f"after {m.label}" for m in marks]
    phases = []
    for i, label in enumerate(labels):
        lo, hi = bounds[i], bounds[i + 1]
        in_phase = [s for s in acked.values() if s.started is not None and lo <= s.started < hi]
        to_ack = [s.acked - s.started for s in in_phase if s.acked is not None and s.started is not None]
        to_all = []
        for s in in_phase:
            times = delivered_at.get((s.sender, s.client_id), [])
            if s.started is not None and len(times) >= expected_devices.get(s.room_id, 0) and times:
                to_all.append(max(times) - s.started)
        phases.append(Phase(label, round(lo, 2), round(hi, 2), percentiles(to_ack), percentiles(to_all)))

    timeline = []
    for t in range(int(end) + 1):
        started = [s for s in sends if s.started is not None and t <= s.started < t + 1]
        acks = [s for s in acked.values() if s.acked is not None and t <= s.acked < t + 1]
        errors = [s for s in sends if s.failed is not None and t <= s.failed < t + 1]
        lat = [s.acked - s.started for s in acks if s.acked is not None and s.started is not None]
        by_dc = Counter(s.dc for s in acks)
        timeline.append(Second(t, len(started), len(acks), len(errors), percentiles(lat).p99, dict(by_dc)))

    max_outage = max(waits_by_user.values(), default=0.0)
    dcs = sorted(digests)
    identical = len(set(digests.values())) <= 1
    unacked_present = sum(1 for k, s in by_key.items() if s.acked is None and k in present)
    faults = (
        len(lost) + len(duplicated) + out_of_order + len(never_sent) + sender_order_broken + order_mismatch
        + missing + duplicate_deliveries + wrong_position
    )  # fmt: skip
    exceeded = max_outage_limit_s is not None and max_outage > max_outage_limit_s
    read_failures = sum(1 for p in probes if not p.ok)
    for p in probes:
        if not p.ok:
            note("read_failures", f"{p.dc} at {p.at:.1f}s: {p.error}")
    split = minority_acks(sends, marks, end)
    for s in split:
        note("minority_acks", f"{s.sender}/{s.client_id} acknowledged by cut-off {s.dc} at {s.acked:.1f}s")
    fv = check_files(files or [], file_reads or {})
    for kind, items in fv.examples.items():
        examples[kind].extend(items)
    verdict = Verdict(
        acked=len(acked),
        failed=sum(1 for s in sends if s.failed is not None),
        not_attempted=sum(1 for s in sends if s.started is None),
        lost=len(lost),
        duplicated=len(duplicated),
        out_of_order=out_of_order,
        never_sent=len(never_sent),
        sender_order_broken=sender_order_broken,
        order_mismatch_rooms=order_mismatch,
        missing_deliveries=missing,
        duplicate_deliveries=duplicate_deliveries,
        wrong_position=wrong_position,
        read_models_identical=identical,
        dcs_compared=dcs,
        read_probes=len(probes),
        read_failures=read_failures,
        unacked_but_present=unacked_present,
        max_outage_s=round(max_outage, 3),
        max_outage_limit_s=max_outage_limit_s,
        minority_acks=len(split),
        passed=faults == 0
        and not split
        and read_failures == 0
        and identical
        and not exceeded
        and fv.lost == 0
        and fv.differing == 0,
        files_acked=fv.acked,
        files_failed=fv.failed,
        files_lost=fv.lost,
        files_differing=fv.differing,
        files_dcs_checked=fv.dcs_checked,
    )
    rooms_out = sorted(
        (RoomOutage(r, round(room_waits.get(r, 0.0), 3), room_failed[r]) for r in rooms),
        key=lambda o: -o.longest_wait_s,
    )
    return Findings(
        verdict=verdict,
        send_outage=percentiles(list(waits_by_user.values())),
        delivery_outage=percentiles(list(delivery_waits.values())),
        rooms=rooms_out,
        phases=phases,
        timeline=timeline,
        examples=dict(examples),
        errors=dict(Counter(s.error for s in sends if s.acked is None)),
    )
