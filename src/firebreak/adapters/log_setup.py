"""The log's set-up: the streams and KV buckets every DC needs, created by whichever gateway comes
first, and the cluster secrets kept in the replicated secrets bucket."""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable

import nats
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, RePublish, StorageType, StreamConfig

from firebreak.adapters import counters, object_files, oidc_store, ops_board
from firebreak.adapters.nats_connect import PATIENT, STARTUP_RETRYABLE, TRANSIENT, NotReady
from firebreak.config import Config
from firebreak.domain.ids import ACCOUNTS_STREAM, WALLETS_STREAM, room_stream, room_subject_prefix
from firebreak.retry import retry

log = logging.getLogger(__name__)

SECRETS_BUCKET = "FB_SECRETS"
#: Cluster secrets in ``SECRETS_BUCKET`` (see :func:`cluster_secret`): the token signing key and
#: the key of room ids (domain/ids.py), separate so that one can be replaced without the other.
TOKEN_KEY_NAME = "token-hmac-v1"
ROOM_ID_KEY_NAME = "room-id-hmac-v1"
_KV_CREATE_LOST: tuple[type[BaseException], ...] = (
    nats.js.errors.KeyWrongLastSequenceError,
    nats.js.errors.KeyNotFoundError,
    *TRANSIENT,
)


#: The stream leader republishes every stored entry under this prefix (replica_reader.py).
COMMITTED_PREFIX = "fbc"


def stream_subjects(partitions: int) -> dict[str, str]:
    """Stream name -> the subjects it captures."""
    subjects = {ACCOUNTS_STREAM: "acct.>", WALLETS_STREAM: "wallet.>"}
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
    """Creates the streams, the KV buckets (secrets, ops board, login provider), the attachments'
    object store and uploads stream, and the attempt counters' stream if missing. Idempotent; safe
    to race from every DC.

    Waits for the cluster to form: until ``deadline`` (monotonic), or with none for as long as the
    caller's task runs, every failure (no meta leader yet, too few peers, a request timing out, a
    stream another DC is creating at the same moment) is tried again.
    """
    attachments = object_files.stream_configs(config.limits.upload_ttl_s, config.dedupe_window_s)
    streams = [*stream_configs(config), *attachments, counters.stream_config(config.limits)]
    steps: list[Callable[[], Awaitable[None]]] = [functools.partial(_add_or_update, js, sc) for sc in streams]
    secrets_bucket = KeyValueConfig(bucket=SECRETS_BUCKET, history=1, replicas=3, storage=StorageType.FILE)
    steps.append(functools.partial(_create_bucket, js, secrets_bucket))
    steps.append(functools.partial(_create_bucket, js, ops_board.bucket_config()))
    steps.append(functools.partial(_create_bucket, js, oidc_store.bucket_config()))
    for step in steps:
        await retry(step, retry_on=STARTUP_RETRYABLE, deadline=deadline, on_retry=on_retry, backoff=PATIENT)


async def _add_or_update(js: JetStreamContext, sc: StreamConfig) -> None:
    try:
        await js.add_stream(sc)
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code == 10005:  # "no suitable peers for placement": not all nodes have joined yet
            raise NotReady(exc.description or "") from exc
        if exc.err_code != 10058:  # "stream name already in use with a different configuration"
            raise
        await js.update_stream(sc)


async def _create_bucket(js: JetStreamContext, config: KeyValueConfig) -> None:
    try:
        await js.create_key_value(config)
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code == 10005:
            raise NotReady(exc.description or "") from exc
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
            raise NotReady(f"the cluster secret {name!r} is being created") from exc
        return bytes.fromhex(mine)

    return await retry(
        once, retry_on=STARTUP_RETRYABLE, deadline=deadline, on_retry=on_retry, backoff=PATIENT
    )
