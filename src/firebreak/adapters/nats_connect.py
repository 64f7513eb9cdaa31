"""Connections to the log's nodes: which user, TLS, failover between DCs, and the errors a
starting process or a retried publish waits out."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import PubAck

from firebreak.adapters.nats_client import Client
from firebreak.config import Config
from firebreak.retry import Backoff, retry

log = logging.getLogger(__name__)

#: nats-py/JetStream errors that mean "no leader right now, try again shortly".
TRANSIENT: tuple[type[BaseException], ...] = (
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    asyncio.TimeoutError,
)


#: nats-server's code for a publish whose ``Nats-Msg-Id`` an earlier try is still committing (409
#: "duplicate message id is in process"): a try whose answer came too late for its caller, tried
#: again while the stream's replicas are still agreeing on the first. Asked again, the answer is
#: the first try's acknowledgement (a duplicate), so it is worth another try, as TRANSIENT is.
DUPLICATE_IN_PROCESS = 10158


class StillCommitting(Exception):
    """An earlier try of this publish, with the same message id, is still being committed."""


def still_committing(exc: nats.js.errors.APIError) -> bool:
    return exc.err_code == DUPLICATE_IN_PROCESS or "duplicate message id is in process" in (
        exc.description or ""
    )


async def publish_once(
    js: JetStreamContext, subject: str, data: bytes, *, attempt_s: float, headers: dict[str, str]
) -> PubAck:
    """One try of a publish that carries a ``Nats-Msg-Id``: raises :class:`StillCommitting` where an
    earlier try is still being committed (retry on it with the same headers), any other error as
    nats-py raises it."""
    try:
        return await js.publish(subject, data, timeout=attempt_s, headers=dict(headers))
    except nats.js.errors.APIError as exc:
        if still_committing(exc):
            raise StillCommitting(subject) from exc
        raise


class NotReady(Exception):
    """The cluster is still forming (fewer JetStream peers than replicas so far)."""


#: What a starting gateway waits out rather than exits on: any error from the client or the
#: server (the cluster forming, no meta leader, a stream or bucket that another DC is creating or
#: that this node has not learned of yet), and a node that does not accept connections yet.
STARTUP_RETRYABLE: tuple[type[BaseException], ...] = (
    nats.errors.Error,
    nats.js.errors.Error,
    OSError,
    TimeoutError,
    NotReady,
)
#: Start-up waits on other processes: back off to a few seconds between tries, not a busy loop.
PATIENT = Backoff(first_s=0.05, max_s=2.0)
#: Between tries through an election while someone waits on the answer (a write, a question with a
#: deadline): short.
BRISK = Backoff(first_s=0.05, max_s=0.5)
#: How long each try of a question to the log waits for its answer: 1 s, then twice as long up to
#: the client's own 5 s. While a stream's leader steps down a question can go unanswered by every
#: node (none leads yet, none believes the group leaderless: docs/READ_MODELS.md), so it is asked
#: again rather than waited on for the whole 5 s; the waits grow because a slow answer from a busy
#: node is an answer too.
ANSWER_WAITS = Backoff(first_s=1.0, max_s=5.0, jitter=0.0)

T = TypeVar("T")


async def ask(
    question: Callable[[], Awaitable[T]],
    *,
    retry_on: tuple[type[BaseException], ...],
    deadline: float | None,
    backoff: Backoff,
    waits: Backoff = ANSWER_WAITS,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """``question()``'s answer, asked again (:func:`~firebreak.retry.retry`) on an error in
    ``retry_on`` or when no answer came within the try's wait (``waits``; never past
    ``deadline``, a ``time.monotonic()`` time). ``retry_on`` should hold TimeoutError;
    ``on_retry`` hears why each try is asked again."""
    each = waits.delays()

    async def once() -> T:
        wait = next(each)
        if deadline is not None:
            wait = min(wait, max(deadline - time.monotonic(), 0.0))
        async with asyncio.timeout(wait):
            return await question()

    return await retry(once, retry_on=retry_on, deadline=deadline, backoff=backoff, on_retry=on_retry)


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
    only_preferred: bool = False,
) -> NATS:
    """Connects to every DC's node, the preferred DC's first; nats-py fails over between them.
    Operators' tools connect as ``role="ops"``: stream state and leader moves, no data. With
    ``only_preferred`` it connects to the preferred DC's node alone, and does not reconnect.

    Without ``on_retry`` a node that does not answer is an error at once. With it, the caller is
    patient (a gateway starting): it tries again with backoff for as long as its task runs and
    hears each failure, so a gateway started before any node is up simply waits for one.
    """
    urls = config.nats_urls(first=prefer_dc)
    if only_preferred:
        urls = urls[:1]
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
            allow_reconnect=not only_preferred,
        )
        return nc

    if on_retry is None:
        return await attempt()
    return await retry(attempt, retry_on=STARTUP_RETRYABLE, on_retry=on_retry, backoff=PATIENT)
