"""What a chat load run (bench/load.py) is asked to do, what it reports (in the bench's JSON), and
the little it reads of the server's answers and frames."""

from __future__ import annotations

import msgspec

from firebreak.bench.latency import Latency
from firebreak.bench.texts import TextKind
from firebreak.config import READ_MODEL_COMMIT_S


class BenchOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    room_size: int = 20
    rooms: int = 20
    online: float = 1.0
    message_size: int = 100
    #: what the messages say (bench/texts.py): one letter repeated, or words
    text: TextKind = "repeat"
    duration_s: float = 10.0
    max_messages: int = 100_000
    rate: float | None = None
    #: messages per request: 1 = one POST per message; more = batch sends (one atomic append each)
    batch: int = 1
    raw_messages: int = 20_000
    raw_sequential: int = 2_000
    partitions: int = 3
    #: senders move to the DC a send's answer names in Firebreak-Write-Url, as the client does
    follow_write_hints: bool = True
    #: "http": one POST per send; "ws": a ``send`` command on the sender's live WebSocket
    send_over: str = "http"
    #: sends each sender keeps in flight on its socket (``send_over="ws"``; 1: closed loop)
    window: int = 1
    #: loopback source addresses the live sockets are spread over (bench/connections.py)
    source_addresses: int = 1
    #: the heartbeat interval every live socket asks for (``/v1/ws?heartbeat_s=``; None: the
    #: server's default, as the web app has it)
    heartbeat_s: int | None = None
    #: processes that hold the live sockets of members other than the senders (bench/listeners.py;
    #: 0: this process holds every socket; None: the bench chooses, bench/listeners.py)
    listener_processes: int | None = None
    #: gateway processes per DC, sharing its port (config.DCConfig.gateways; None: the bench
    #: chooses, bench/connections.py)
    gateways_per_dc: int | None = None
    #: the cluster's ``read_model_commit_s``
    read_model_commit_s: float = READ_MODEL_COMMIT_S
    #: one-way delay of every link between DCs, through the link proxies (0: direct routes)
    link_delay_ms: float = 0.0


class LoadResult(msgspec.Struct, frozen=True):
    messages: int
    seconds: float
    per_s: float
    deliveries: int
    deliveries_per_s: float
    online_clients: int
    send_to_ack: Latency
    #: per message: until the last online member of its room had it
    send_to_all_delivered: Latency
    undelivered_messages: int
    #: sends answered with an error (not retried: the bench reports, it does not hide)
    failed_sends: int = 0
    #: distinct local addresses the live sockets came from
    source_addresses: int = 1
    #: live sockets opened per second of set-up spent opening them: from the first connect of a
    #: room's members to the last one's ``ready`` frame (handshake, authentication, caught up)
    connects_per_s: float = 0.0
    #: CPU per socket opened then (ms): all gateways together, and this process
    connect_cpu_ms_gateways: float = 0.0
    connect_cpu_ms_load: float = 0.0


class SeenEvent(msgspec.Struct):
    type: str
    client_id: str = ""


class SeenData(msgspec.Struct):
    event: SeenEvent


class SeenFrame(msgspec.Struct):
    """Only what the bench reads from a live frame (other fields are skipped by the decoder)."""

    kind: str
    data: SeenData | list[SeenData] | None = None
    #: of an ack (sends over the WebSocket)
    ref: str | None = None
    status: int = 0


class SeenSession(msgspec.Struct):
    token: str


class SeenRoom(msgspec.Struct):
    room_id: str
