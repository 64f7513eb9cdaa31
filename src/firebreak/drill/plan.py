"""What a drill does and when: options, disasters and the named scenarios. Pure values."""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from firebreak.config_file import MAX_GATEWAYS_PER_DC
from firebreak.errors import BadRequest

DisasterKind = Literal["fire", "rebuild", "evacuate", "double_fire", "partition", "heal", "slow", "restore"]
#: Disasters of the network, not of machines: they need isolated DCs (localcluster/netns.py).
NETWORK_KINDS = ("partition", "heal")
#: Degraded links (drill/slowdc.py): they need the link proxies (localcluster/links.py).
LINK_KINDS = ("slow", "restore")
Fault = Literal["", "phantom", "forget", "forget_file", "double", "lose", "forget_family", "replay_code"]
#: chat: messages in rooms (drill/workload.py); bank: transfers between wallets (drill/bank.py);
#: login: OpenID Connect sign-ins and refreshes by simulated sites (drill/login.py).
WorkloadKind = Literal["chat", "bank", "login"]


class Disaster(msgspec.Struct, frozen=True):
    """``dc`` is a DC name, ``leader`` (the DC leading most of the drill's rooms) or ``other`` (a DC that
    leads the fewest); for ``rebuild`` an empty ``dc`` means every DC burned so far, for ``heal``
    every DC cut off so far. ``partition`` cuts the DC off from every other DC, leaving it running
    and reachable by its clients. ``slow`` degrades the DC's links to every other DC (the drill's
    ``slow_delay_ms`` and ``slow_loss``, both ways); ``restore`` (empty ``dc``: every slowed DC)
    gives them back."""

    kind: DisasterKind
    at_s: float
    dc: str = "leader"


class DrillOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    users: int = 12
    group_rooms: int = 3
    room_size: int = 4
    direct_rooms: int = 6
    #: Users (the first N) that have a second device connected to another DC.
    second_devices: int = 3
    #: Messages per second over all users (open loop), and their size in bytes.
    rate: float = 20.0
    message_size: int = 80
    duration_s: float = 40.0
    seed: int = 1
    disasters: tuple[Disaster, ...] = ()
    #: How long one send is retried (across DCs) before the client gives up and records an error.
    send_deadline_s: float = 20.0
    #: Exit non-zero if any client went longer than this without a successful send.
    max_outage_s: float | None = None
    #: After the workload: how long to wait for deliveries and for the DCs to converge.
    settle_s: float = 45.0
    #: Deliberately break something, to prove the checker catches it.
    inject_fault: Fault = ""
    partitions: int = 3
    #: Gateway processes per DC (each with a port of its own, as well as the DC's shared one); the
    #: verdict then checks every process, not one per DC.
    gateways_per_dc: int = 1
    #: Chat drills: users (the first N with rooms) that upload files while the chat runs (drill/files.py).
    files: int = 2
    workload: WorkloadKind = "chat"
    #: The bank workload: wallets, each funded with initial_balance, transfers of 1-max_transfer.
    wallets: int = 200
    initial_balance: int = 1000
    max_transfer: int = 400
    #: The login workload: accounts signing in at one registered site (``rate`` = attempts per second).
    login_users: int = 20
    #: The ``slow`` disaster: one-way delay added to the slowed DC's links, and their segment loss.
    slow_delay_ms: float = 100.0
    slow_loss: float = 0.01
    #: Run the drill on isolated DCs (localcluster/netns.py) whatever its disasters; partition
    #: disasters always do.
    isolated_dcs: bool = False


_DISASTER = re.compile(
    r"^(fire|rebuild|evacuate|double_fire|double-fire|partition|heal|slow|restore)(?::([\w-]*))?"
    r"@(\d+(?:\.\d+)?)$"
)


def parse_disaster(text: str) -> Disaster:
    """``KIND[:DC]@SECONDS``, e.g. ``fire:leader@12``, ``rebuild@26``, ``evacuate:dc2@10``."""
    m = _DISASTER.match(text.strip())
    if not m:
        raise BadRequest(
            f"bad disaster {text!r}: use KIND[:DC]@SECONDS, KIND one of fire, rebuild, evacuate, "
            "double_fire, partition, heal, slow, restore",
            code="invalid_disaster",
        )
    kind = m.group(1).replace("-", "_")
    default = "" if kind in ("rebuild", "heal", "restore") else "leader"
    return Disaster(kind=kind, at_s=float(m.group(3)), dc=m.group(2) if m.group(2) is not None else default)  # type: ignore[arg-type]


def scenario(name: str, duration_s: float) -> tuple[Disaster, ...]:
    """Named scenarios, timed as fractions of the duration so short and long drills look alike."""
    t1, t2 = round(duration_s * 0.3, 1), round(duration_s * 0.6, 1)
    table: dict[str, tuple[Disaster, ...]] = {
        "none": (),
        "fire": (Disaster("fire", t1, "leader"), Disaster("rebuild", t2, "")),
        "fire-other": (Disaster("fire", t1, "other"), Disaster("rebuild", t2, "")),
        "evacuate": (Disaster("evacuate", t1, "leader"), Disaster("rebuild", t2, "")),
        "double-fire": (Disaster("double_fire", t1, "leader"), Disaster("rebuild", t2, "")),
        "fire-only": (Disaster("fire", t1, "leader"),),
        "partition": (Disaster("partition", t1, "other"), Disaster("heal", t2, "")),
        "partition-leader": (Disaster("partition", t1, "leader"), Disaster("heal", t2, "")),
        "flapping": _flapping(t1, t2),
        "slow-dc": (Disaster("slow", t1, "leader"), Disaster("restore", t2, "")),
    }
    if name not in table:
        raise BadRequest(f"unknown scenario {name!r}; known: {', '.join(table)}")
    return table[name]


#: Seconds a flapping link stays up, and down, in turn.
FLAP_S = 3.0


def _flapping(start: float, end: float) -> tuple[Disaster, ...]:
    """The DC leading the fewest of the drill's rooms cut off and healed in turn, every FLAP_S."""
    steps: list[Disaster] = []
    at, cut = start, True
    while at < end:
        steps.append(
            Disaster("partition", round(at, 1), "other") if cut else Disaster("heal", round(at, 1), "")
        )
        at, cut = at + FLAP_S, not cut
    if not cut:
        steps.append(Disaster("heal", round(end, 1), ""))
    return tuple(steps)


def needs_isolated_dcs(options: DrillOptions) -> bool:
    return options.isolated_dcs or any(d.kind in NETWORK_KINDS for d in options.disasters)


def needs_link_proxies(options: DrillOptions) -> bool:
    return any(d.kind in LINK_KINDS for d in options.disasters)


def check_options(options: DrillOptions) -> None:
    if options.users < 2 or options.room_size < 2 or options.room_size > options.users:
        raise BadRequest("need at least 2 users and 2 <= room size <= users")
    if not 0 < options.rate <= 2000 or not 1 <= options.duration_s <= 3600:
        raise BadRequest("rate must be in (0, 2000] and duration in [1, 3600] seconds")
    if not 1 <= options.message_size <= 4000:
        raise BadRequest("message size must be 1-4000")
    if options.workload == "bank" and not (2 <= options.wallets <= 5000 and options.max_transfer >= 1):
        raise BadRequest("a bank drill needs 2-5000 wallets and transfers of at least 1")
    if options.workload == "login" and not 1 <= options.login_users <= 1000:
        raise BadRequest("a login drill needs 1-1000 users")
    faults = {
        "chat": ("", "phantom", "forget", "forget_file"),
        "bank": ("", "double", "lose"),
        "login": ("", "forget_family", "replay_code"),
    }[options.workload]
    if options.inject_fault not in faults:
        raise BadRequest(f"fault {options.inject_fault!r} is not one of the {options.workload} workload's")
    if not 1 <= options.gateways_per_dc <= MAX_GATEWAYS_PER_DC:
        raise BadRequest(f"--gateways-per-dc takes 1-{MAX_GATEWAYS_PER_DC}")
    if not 0 <= options.files <= 20:
        raise BadRequest("--files takes 0-20 uploaders")
    if options.inject_fault == "forget_file" and options.files < 1:
        raise BadRequest("the forget_file fault needs at least one uploader (--files)")
    if needs_isolated_dcs(options) and needs_link_proxies(options):
        raise BadRequest(
            "a drill either runs on isolated DCs (partitions, --isolated-dcs) or slows links through "
            "proxies on loopback (slow-dc), not both"
        )
    if not 0 <= options.slow_delay_ms <= 5000 or not 0 <= options.slow_loss <= 0.5:
        raise BadRequest("the slow disaster takes a delay of 0-5000 ms and a loss of 0-0.5")
    for d in options.disasters:
        if not 0 <= d.at_s <= options.duration_s:
            raise BadRequest(f"{d.kind} at {d.at_s}s is outside the drill's {options.duration_s}s")
