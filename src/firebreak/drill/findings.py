"""What a drill's checker (drill/checker.py) finds: the verdict, the outages, the phases and the
timeline, as the report (drill/report.py) shows them."""

from __future__ import annotations

import msgspec

from firebreak.stats import quantile


class Verdict(msgspec.Struct):
    acked: int
    failed: int
    not_attempted: int
    #: acknowledged messages missing from at least one serving DC
    lost: int
    #: messages present more than once in a DC's history
    duplicated: int
    #: a device received a room's messages out of room order
    out_of_order: int
    #: messages present or received that no client ever sent
    never_sent: int
    #: one sender's acknowledged messages in a room are not in the order they were sent
    sender_order_broken: int
    #: rooms whose history differs between serving DCs
    order_mismatch_rooms: int
    #: a member's device never received a message of its room
    missing_deliveries: int
    #: a device received the same message twice
    duplicate_deliveries: int
    #: the acknowledged room_seq differs from the one in the history
    wrong_position: int
    read_models_identical: bool
    dcs_compared: list[str]
    #: history reads against DCs that were serving at the time, and how many failed
    read_probes: int
    read_failures: int
    #: not acknowledged (failed or cancelled) but in the log anyway: allowed, reported for honesty
    unacked_but_present: int
    max_outage_s: float
    max_outage_limit_s: float | None
    #: sends acknowledged by a DC while it was cut off from the others (drill/partition.py): must be 0
    minority_acks: int
    passed: bool
    #: Attachments (drill/files_checker.py): uploads whose completion was answered, uploads given up,
    #: acknowledged files some DC could not serve, and ones some DC served with other bytes.
    files_acked: int = 0
    files_failed: int = 0
    files_lost: int = 0
    files_differing: int = 0
    files_dcs_checked: list[str] = msgspec.field(default_factory=list)


class Percentiles(msgspec.Struct):
    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


class Phase(msgspec.Struct):
    label: str
    start: float
    end: float
    send_to_ack: Percentiles
    send_to_all_delivered: Percentiles


class RoomOutage(msgspec.Struct):
    room_id: str
    longest_wait_s: float
    failed: int


class Second(msgspec.Struct):
    t: int
    sends: int
    acks: int
    errors: int
    p99_ack_s: float | None
    acks_by_dc: dict[str, int]


class Findings(msgspec.Struct):
    verdict: Verdict
    send_outage: Percentiles
    delivery_outage: Percentiles
    rooms: list[RoomOutage]
    phases: list[Phase]
    timeline: list[Second]
    examples: dict[str, list[str]]
    #: sends that were not acknowledged, by the error the client finally got
    errors: dict[str, int]


def percentiles(values: list[float]) -> Percentiles:
    if not values:
        return Percentiles(0, None, None, None, None)
    s = sorted(values)
    p50, p95, p99 = (round(quantile(s, q), 4) for q in (0.50, 0.95, 0.99))
    return Percentiles(len(s), p50, p95, p99, round(s[-1], 4))
