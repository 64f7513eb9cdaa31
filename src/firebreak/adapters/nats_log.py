"""The replicated log: NATS JetStream streams with one replica per DC.

Streams: ``ACCOUNTS`` (subjects ``acct.>``) and ``ROOMS_<p>`` for each partition p (subjects
``rooms.<p>.>``), all R3, file storage, quorum-acknowledged. This module translates nats-py's
errors into Firebreak's at the boundary; nothing above it imports nats.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, RePublish, StorageType, StreamConfig

from firebreak.adapters import kv_counters, ops_board
from firebreak.adapters.nats_client import Client
from firebreak.config import Config
from firebreak.domain.ids import ACCOUNTS_STREAM, room_stream, room_subject_prefix
from firebreak.errors import FirebreakError, Unavailable
from firebreak.retry import Backoff, retry

log = logging.getLogger(__name__)

SECRETS_BUCKET = "FB_SECRETS"
#: "wrong last sequence": 10071 from the stream leader's check; 10164 when a racing proposal for the
#: same subject is still in flight (seen with concurrent registrations from several DCs).
_WRONG_LAST_SEQUENCE = {10071, 10164}
#: Cluster secrets in ``SECRETS_BUCKET`` (see :func:`cluster_secret`): the token signing key and
#: the key of room ids (domain/ids.py), separate so that one can be replaced without the other.
TOKEN_KEY_NAME = "token-hmac-v1"
ROOM_ID_KEY_NAME = "room-id-hmac-v1"
#: Entries per atomic batch (the server's own limit is 1,000).
MAX_ATOMIC_BATCH = 1000
#: nats-py/JetStream errors that mean "no leader right now, try again shortly".
_TRANSIENT: tuple[type[BaseException], ...] = (
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    asyncio.TimeoutError,
)


class _NotReady(Exception):
    """The cluster is still forming (fewer JetStream peers than replicas so far)."""


_TRANSIENT_OR_SERVER: tuple[type[BaseException], ...] = (*_TRANSIENT, nats.js.errors.ServerError, _NotReady)
#: What a starting gateway waits out rather than exits on: any error from the client or the
#: server (the cluster forming, no meta leader, a stream or bucket that another DC is creating or
#: that this node has not learned of yet), and a node that does not accept connections yet.
STARTUP_RETRYABLE: tuple[type[BaseException], ...] = (
    nats.errors.Error,
    nats.js.errors.Error,
    OSError,
    TimeoutError,
    _NotReady,
)
#: Start-up waits on other processes: back off to a few seconds between tries, not a busy loop.
_PATIENT = Backoff(first_s=0.05, max_s=2.0)
#: Between write attempts through an election: short, as a client waits on the answer.
_WRITE_BACKOFF = Backoff(first_s=0.05, max_s=0.5)


class _WriteAgain(Exception):
    """An append attempt that a later attempt may complete (its cause says why)."""


_KV_CREATE_LOST: tuple[type[BaseException], ...] = (
    nats.js.errors.KeyWrongLastSequenceError,
    nats.js.errors.KeyNotFoundError,
    *_TRANSIENT,
)


class SubjectNotEmpty(FirebreakError):
    """An append that expected an empty subject found it taken (JetStream error 10071)."""

    code = "subject_not_empty"
    status = 409


@dataclass(frozen=True)
class Appended:
    stream: str
    seq: int
    #: True when JetStream recognised the Nats-Msg-Id: this is a retry of an earlier append.
    duplicate: bool


#: Which NATS user a connection uses (adapters/nats_server_conf.py says what each may do).
Role = Literal["gateway", "ops"]


def tls_context(config: Config) -> ssl.SSLContext | None:
    """Checks every node's certificate against the cluster's CA (None: no ``[tls]``)."""
    if config.tls is None:
        return None
    return ssl.create_default_context(cafile=config.tls.ca_file)


async def connect(
    config: Config,
    prefer_dc: str | None,
    name: str,
    *,
    role: Role = "gateway",
    on_retry: Callable[[BaseException], None] | None = None,
) -> NATS:
    """Connects to every DC's node, the preferred DC's first; nats-py fails over between them.
    Operators' tools connect as ``role="ops"``: stream state and leader moves, no data.

    Without ``on_retry`` a node that does not answer is an error at once. With it, the caller is
    patient (a gateway starting): it tries again with backoff for as long as its task runs and
    hears each failure, so a gateway started before any node is up simply waits for one.
    """
    urls = config.nats_urls(first=prefer_dc)
    s = config.secrets
    user, password = (
        (s.nats_user, s.nats_password) if role == "gateway" else (s.ops_nats_user, s.ops_nats_password)
    )
    tls = tls_context(config)

    async def attempt() -> NATS:
        nc = Client()
        await nc.connect(
            servers=urls,
            user=user,
            password=password,
            tls=tls,
            name=name,
            dont_randomize=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,  # type: ignore[arg-type]  # annotated int, used as float seconds
            connect_timeout=2,
            ping_interval=2,
            max_outstanding_pings=2,
            allow_reconnect=True,
        )
        return nc

    if on_retry is None:
        return await attempt()
    return await retry(attempt, retry_on=STARTUP_RETRYABLE, on_retry=on_retry, backoff=_PATIENT)


#: The stream leader republishes every stored entry under this prefix (replica_reader.py).
COMMITTED_PREFIX = "fbc"


def stream_subjects(partitions: int) -> dict[str, str]:
    """Stream name -> the subjects it captures."""
    subjects = {ACCOUNTS_STREAM: "acct.>"}
    subjects.update({room_stream(p): f"{room_subject_prefix(p)}.>" for p in range(partitions)})
    return subjects


def committed_subject(subject: str) -> str:
    """Where the leader republishes the entries stored under ``subject``."""
    return f"{COMMITTED_PREFIX}.{subject}"


def stream_configs(config: Config) -> list[StreamConfig]:
    return [
        StreamConfig(
            name=name,
            subjects=[subject],
            num_replicas=3,
            storage=StorageType.FILE,
            duplicate_window=float(config.dedupe_window_s),
            # Every replica answers direct gets, so each DC can read its own copy.
            allow_direct=True,
            # Each stored entry, pushed once with its sequence: the read models' steady-state feed.
            republish=RePublish(src=subject, dest=committed_subject(subject)),
            # Atomic batches: a batch send is stored all or nothing, in order, contiguous.
            allow_atomic=True,
        )
        for name, subject in stream_subjects(config.partitions).items()
    ]


async def ensure_topology(
    js: JetStreamContext,
    config: Config,
    *,
    deadline: float | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
) -> None:
    """Creates the streams and the KV buckets (secrets, ops board, limits) if missing. Idempotent; safe to
    race from every DC.

    Waits for the cluster to form: until ``deadline`` (monotonic), or with none for as long as the
    caller's task runs, every failure (no meta leader yet, too few peers, a request timing out, a
    stream another DC is creating at the same moment) is tried again.
    """
    steps: list[Callable[[], Awaitable[None]]] = [
        functools.partial(_add_or_update, js, sc) for sc in stream_configs(config)
    ]
    secrets_bucket = KeyValueConfig(bucket=SECRETS_BUCKET, history=1, replicas=3, storage=StorageType.FILE)
    steps.append(functools.partial(_create_bucket, js, secrets_bucket))
    steps.append(functools.partial(_create_bucket, js, ops_board.bucket_config()))
    steps.append(functools.partial(_create_bucket, js, kv_counters.bucket_config()))
    for step in steps:
        await retry(step, retry_on=STARTUP_RETRYABLE, deadline=deadline, on_retry=on_retry, backoff=_PATIENT)


async def _add_or_update(js: JetStreamContext, sc: StreamConfig) -> None:
    try:
        await js.add_stream(sc)
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code == 10005:  # "no suitable peers for placement": not all nodes have joined yet
            raise _NotReady(exc.description or "") from exc
        if exc.err_code != 10058:  # "stream name already in use with a different configuration"
            raise
        await js.update_stream(sc)


async def _create_bucket(js: JetStreamContext, config: KeyValueConfig) -> None:
    try:
        await js.create_key_value(config)
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code == 10005:
            raise _NotReady(exc.description or "") from exc
        raise


async def cluster_secret(
    js: JetStreamContext,
    name: str,
    *,
    deadline: float | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
) -> bytes:
    """A random 32-byte secret created once for the whole cluster, kept in the replicated KV bucket.

    Every gateway races to create it; KV ``create`` lets exactly one win and the rest read the
    winner's. Waits like :func:`ensure_topology`: the bucket another DC just created may not be
    known to this node yet (``BucketNotFoundError``), and a lost race is read on the next try.
    """

    async def once() -> bytes:
        kv = await js.key_value(SECRETS_BUCKET)
        try:
            entry = await kv.get(name)
            if entry.value:
                return bytes.fromhex(entry.value.decode())
        except nats.js.errors.KeyNotFoundError:
            pass
        mine = secrets.token_hex(32)
        try:
            await kv.create(name, mine.encode())
        except _KV_CREATE_LOST as exc:
            # Another gateway won (or the acknowledgement was lost): the next try reads the key.
            raise _NotReady(f"the cluster secret {name!r} is being created") from exc
        return bytes.fromhex(mine)

    return await retry(
        once, retry_on=STARTUP_RETRYABLE, deadline=deadline, on_retry=on_retry, backoff=_PATIENT
    )


class Log:
    """Appends to and reads positions of the replicated log."""

    def __init__(
        self, nc: NATS, js: JetStreamContext, write_deadline_s: float = 12.0, attempt_s: float = 0.75
    ) -> None:
        self._nc = nc
        self._js = js
        self._attempt_s = attempt_s
        #: Long enough to ride out one Raft election (4-9 s measured), short enough to fail clearly.
        self._write_deadline_s = write_deadline_s

    @property
    def js(self) -> JetStreamContext:
        return self._js

    async def append(
        self, subject: str, data: bytes, msg_id: str, *, expect_empty_subject: bool = False
    ) -> Appended:
        """Appends once, whatever the retries: ``msg_id`` is JetStream's dedupe key.

        Retries through leader elections until the write deadline, then raises Unavailable: the
        caller (and the client) may retry with the same id at any time without creating a copy.
        """
        headers = {"Nats-Msg-Id": msg_id}
        if expect_empty_subject:
            headers["Nats-Expected-Last-Subject-Sequence"] = "0"

        async def once() -> Appended:
            try:
                # A leader that steps down drops in-flight proposals without answering, so one
                # attempt waits briefly; the retry carries the same Nats-Msg-Id and cannot duplicate.
                ack = await self._js.publish(subject, data, timeout=self._attempt_s, headers=dict(headers))
                return Appended(stream=ack.stream, seq=ack.seq, duplicate=bool(ack.duplicate))
            except nats.js.errors.APIError as exc:
                if exc.err_code in _WRONG_LAST_SEQUENCE:
                    raise SubjectNotEmpty(f"{subject} already has entries") from exc
                # "duplicate message id is in process": a concurrent copy of this very append is
                # being committed; asked again, the answer is that copy's acknowledgement.
                if (
                    exc.code is not None
                    and exc.code < 500
                    and not isinstance(exc, nats.js.errors.ServiceUnavailableError)
                    and "duplicate message id is in process" not in (exc.description or "")
                ):
                    raise FirebreakError(f"the log refused the write: {exc.description}") from exc
                raise _WriteAgain from exc
            except _TRANSIENT as exc:
                raise _WriteAgain from exc

        return await self._within_write_deadline(once, "retry with the same id")

    async def _within_write_deadline(self, once: Callable[[], Awaitable[Appended]], advice: str) -> Appended:
        """Tries ``once`` through leader elections until the write deadline, then Unavailable."""
        try:
            return await retry(
                once,
                retry_on=(_WriteAgain,),
                deadline=time.monotonic() + self._write_deadline_s,
                backoff=_WRITE_BACKOFF,
            )
        except _WriteAgain as exc:
            raise Unavailable(f"the log has no quorum for this write right now; {advice}") from exc.__cause__

    async def append_batch(self, subject: str, payloads: list[bytes]) -> Appended:
        """Appends ``payloads`` to ``subject`` as one JetStream atomic batch: all or nothing, in
        order, at consecutive sequences; returns the last one.

        Atomic batches refuse message-id dedupe, so a retry after a lost acknowledgement may store
        the batch twice: the projection's durable check (room, sender, client id) ignores the
        second copy in every DC alike. Each attempt uses a new batch id; a batch cut by a leader
        change is never committed and is simply sent again.
        """
        if not 1 <= len(payloads) <= MAX_ATOMIC_BATCH:
            raise FirebreakError(f"a batch holds 1-{MAX_ATOMIC_BATCH} entries")

        async def once() -> Appended:
            batch_id = secrets.token_hex(8)
            try:
                for i, data in enumerate(payloads[:-1], start=1):
                    headers = {"Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(i)}
                    await self._nc.publish(subject, data, headers=headers)
                commit = {
                    "Nats-Batch-Id": batch_id,
                    "Nats-Batch-Sequence": str(len(payloads)),
                    "Nats-Batch-Commit": "1",
                }
                reply = await self._nc.request(subject, payloads[-1], timeout=self._attempt_s, headers=commit)
            except _TRANSIENT as exc:
                raise _WriteAgain from exc
            ack = json.loads(reply.data)
            error = ack.get("error")
            if error is None:
                return Appended(stream=str(ack["stream"]), seq=int(ack["seq"]), duplicate=False)
            if int(error.get("code", 500)) < 500:
                raise FirebreakError(f"the log refused the batch: {error.get('description')}")
            raise _WriteAgain from FirebreakError(str(error.get("description")))

        return await self._within_write_deadline(once, "retry the batch")

    async def last_seq(self, stream: str, deadline_s: float | None = 5.0) -> int:
        """The stream's last sequence, as its leader reports it (with no deadline: waits for one).

        Only an answer that names a leader counts. A node that believes the stream's group has no
        leader answers a stream-info request itself, from its own replica (nats-server's
        ``jsStreamInfoRequest`` lets a "leaderless member" reply); a node that has just rejoined
        with an empty store does so with ``last_seq`` 0 until it hears from the leader, and being
        the gateway's own DC's node its answer arrives first. Readiness built on that 0 would let
        a rebuilt DC serve before it holds what was acknowledged (docs/READ_MODELS.md). Any error
        is asked again until the deadline: the same node, before it has made its copy of the
        stream, answers "stream not found".
        """

        async def from_leader() -> int:
            info = await self._js.stream_info(stream)
            if info.cluster is None or not info.cluster.leader:
                raise _NotReady(f"stream {stream} has no leader (or this node has not heard of it yet)")
            return int(info.state.last_seq)

        deadline = None if deadline_s is None else time.monotonic() + deadline_s
        try:
            return await retry(from_leader, retry_on=STARTUP_RETRYABLE, deadline=deadline, backoff=_PATIENT)
        except STARTUP_RETRYABLE as exc:
            raise Unavailable(f"stream info {stream}: the log did not answer in time") from exc
