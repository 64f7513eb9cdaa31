"""The replicated log: NATS JetStream streams with one replica per DC.

Streams: ``ACCOUNTS`` (subjects ``acct.>``) and ``ROOMS_<p>`` for each partition p (subjects
``rooms.<p>.>``), all R3, file storage, quorum-acknowledged (made by log_setup.py). :class:`Log`
appends to them and reads where they end; it translates nats-py's errors into Firebreak's at the
boundary, so nothing above the adapters imports nats.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import ClusterInfo

from firebreak.adapters.nats_connect import (
    ANSWER_WAITS,
    BRISK,
    PATIENT,
    STARTUP_RETRYABLE,
    TRANSIENT,
    NotReady,
    ask,
    still_committing,
)
from firebreak.errors import FirebreakError, Unavailable
from firebreak.retry import Backoff, retry, unless

log = logging.getLogger(__name__)

#: "wrong last sequence": 10071 from the stream leader's check; 10164 when a racing proposal for the
#: same subject is still in flight (seen with concurrent registrations from several DCs).
_WRONG_LAST_SEQUENCE = {10071, 10164}
#: Entries per atomic batch (the server's own limit is 1,000).
MAX_ATOMIC_BATCH = 1000


def answered_by_leader(cluster: ClusterInfo | None) -> bool:
    """Whether a stream-info answer came from the stream's leader, judged from the answer alone.

    An answer names the leader as its answerer sees it and lists the answerer's peers, leaving the
    answerer out (nats-server's ``clusterInfo``). A leaderless member names no leader. A member
    that decided it was leaderless and then heard from the leader while it built the answer names
    the leader but lists it among its peers: that answer still holds the member's own replica,
    which after a rebuild may be empty (seen as a rebuilt DC taking a target of 0 for a stream
    whose leader held 51 entries).
    """
    if cluster is None or not cluster.leader:
        return False
    return all(peer.name != cluster.leader for peer in cluster.replicas or ())


def _answerer(cluster: ClusterInfo | None) -> str:
    """What a stream-info answer says of its group, for the log."""
    if cluster is None:
        return "no cluster information"
    peers = ", ".join(f"{p.name}{' offline' if p.offline else ''}" for p in cluster.replicas or ())
    return f"leader {cluster.leader or 'none'}, peers of the answerer: {peers or 'none'}"


class _WriteAgain(Exception):
    """An append attempt that a later attempt may complete (its cause says why)."""


class SubjectNotEmpty(FirebreakError):
    """An append that expected an empty subject found it taken (JetStream error 10071)."""

    code = "subject_not_empty"
    status = 409


@dataclass(frozen=True)
class AppendAck:
    stream: str
    seq: int
    #: True when JetStream recognised the Nats-Msg-Id: this is a retry of an earlier append.
    duplicate: bool


class Log:
    """Appends to and reads positions of the replicated log.

    ``cut_off`` (service/cutoff.py's ``CutOffWatch.signal``) gives a future that is done, holding
    the error to answer, once this DC finds itself cut off from the log: an append still waiting
    then fails at once instead of at the write deadline, and its client retries at the majority
    with the same id (the append may have reached the log before the cut: the retry then says
    duplicate).
    """

    def __init__(
        self,
        nc: NATS,
        js: JetStreamContext,
        write_deadline_s: float = 12.0,
        attempt_s: float = 0.75,
        *,
        answer_waits: Backoff = ANSWER_WAITS,
        cut_off: Callable[[], asyncio.Future[BaseException]] | None = None,
        at_node: Callable[[str], Awaitable[JetStreamContext | None]] | None = None,
    ) -> None:
        """``at_node(dc)``: JetStream on a connection to that DC's node alone (adapters/node_links.py),
        where :meth:`last_seq` asks a stream's leader when this DC's node answered for it."""
        self._nc = nc
        self._js = js
        self._at_node = at_node
        self._attempt_s = attempt_s
        self._answer_waits = answer_waits
        self._cut_off = cut_off
        #: Long enough to ride out one Raft election (4-9 s measured), short enough to fail clearly.
        self._write_deadline_s = write_deadline_s

    async def append(
        self, subject: str, data: bytes, msg_id: str, *, expect_empty_subject: bool = False
    ) -> AppendAck:
        """Appends once, whatever the retries: ``msg_id`` is JetStream's dedupe key.

        Retries through leader elections until the write deadline, then raises Unavailable: the
        caller (and the client) may retry with the same id at any time without creating a copy.
        """
        headers = {"Nats-Msg-Id": msg_id}
        if expect_empty_subject:
            headers["Nats-Expected-Last-Subject-Sequence"] = "0"

        async def once() -> AppendAck:
            try:
                # A leader that steps down drops in-flight proposals without answering, so one
                # attempt waits briefly; the retry carries the same Nats-Msg-Id and cannot duplicate.
                ack = await self._js.publish(subject, data, timeout=self._attempt_s, headers=dict(headers))
                return AppendAck(stream=ack.stream, seq=ack.seq, duplicate=bool(ack.duplicate))
            except nats.js.errors.APIError as exc:
                if exc.err_code in _WRONG_LAST_SEQUENCE:
                    raise SubjectNotEmpty(f"{subject} already has entries") from exc
                # "duplicate message id is in process": a concurrent copy of this very append is
                # being committed; asked again, the answer is that copy's acknowledgement.
                if (
                    exc.code is not None
                    and exc.code < 500
                    and not isinstance(exc, nats.js.errors.ServiceUnavailableError)
                    and not still_committing(exc)
                ):
                    raise FirebreakError(f"the log refused the write: {exc.description}") from exc
                raise _WriteAgain from exc
            except TRANSIENT as exc:
                raise _WriteAgain from exc

        return await self._within_write_deadline(once, "retry with the same id")

    async def _within_write_deadline(
        self, once: Callable[[], Awaitable[AppendAck]], advice: str
    ) -> AppendAck:
        """Tries ``once`` through leader elections until the write deadline, then Unavailable; or
        until this DC is cut off, whichever comes first (the one place every append waits)."""
        attempts = retry(
            once,
            retry_on=(_WriteAgain,),
            deadline=time.monotonic() + self._write_deadline_s,
            backoff=BRISK,
        )
        try:
            if self._cut_off is None:
                return await attempts
            return await unless(attempts, self._cut_off())
        except _WriteAgain as exc:
            raise Unavailable(f"the log has no quorum for this write right now; {advice}") from exc.__cause__

    async def append_batch(self, subject: str, payloads: list[bytes]) -> AppendAck:
        """Appends ``payloads`` to ``subject`` as one JetStream atomic batch (:meth:`append_entries`)."""
        return await self.append_entries([(subject, data) for data in payloads])

    async def append_entries(self, entries: Sequence[tuple[str, bytes]]) -> AppendAck:
        """Appends ``entries`` (subject, data), all subjects of one stream, as one JetStream atomic
        batch: all or nothing, in order, at consecutive sequences; returns the last one.

        Atomic batches refuse message-id dedupe, so a retry after a lost acknowledgement may store
        the batch twice: the projection's durable check (room, sender, client id) ignores the
        second copy in every DC alike. Each attempt uses a new batch id; a batch cut by a leader
        change is never committed and is simply sent again.
        """
        if not 1 <= len(entries) <= MAX_ATOMIC_BATCH:
            raise FirebreakError(f"a batch holds 1-{MAX_ATOMIC_BATCH} entries")

        async def once() -> AppendAck:
            batch_id = secrets.token_hex(8)
            try:
                for i, (subject, data) in enumerate(entries[:-1], start=1):
                    headers = {"Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(i)}
                    await self._nc.publish(subject, data, headers=headers)
                commit = {
                    "Nats-Batch-Id": batch_id,
                    "Nats-Batch-Sequence": str(len(entries)),
                    "Nats-Batch-Commit": "1",
                }
                subject, data = entries[-1]
                reply = await self._nc.request(subject, data, timeout=self._attempt_s, headers=commit)
            except TRANSIENT as exc:
                raise _WriteAgain from exc
            ack = json.loads(reply.data)
            error = ack.get("error")
            if error is None:
                return AppendAck(stream=str(ack["stream"]), seq=int(ack["seq"]), duplicate=False)
            if int(error.get("code", 500)) < 500:
                raise FirebreakError(f"the log refused the batch: {error.get('description')}")
            raise _WriteAgain from FirebreakError(str(error.get("description")))

        return await self._within_write_deadline(once, "retry the batch")

    async def last_seq(self, stream: str, deadline_s: float | None = 5.0) -> int:
        """The stream's last sequence, as its leader reports it (with no deadline: waits for one).

        Only the leader's own answer counts (:func:`answered_by_leader`). A node that believes the
        stream's group has no leader answers a stream-info request itself, from its own replica
        (nats-server's ``jsStreamInfoRequest`` lets a "leaderless member" reply); a node that has
        just rejoined with an empty store does so with ``last_seq`` 0 until it hears from the
        leader, and being the gateway's own DC's node its answer arrives first. Readiness built on
        that 0 would let a rebuilt DC serve before it holds what was acknowledged
        (docs/READ_MODELS.md). Such an answer that names a leader is asked again at once at that
        leader's own node (``at_node``), since the leader's answer may never reach this DC's node.
        Any error is asked again until the deadline: the same node, before
        it has made its copy of the stream, answers "stream not found"; and a question no node
        answers is asked again (:func:`~firebreak.adapters.nats_connect.ask`).
        """

        async def from_leader() -> int:
            info = await self._js.stream_info(stream)
            leader = info.cluster.leader if info.cluster is not None else None
            if not answered_by_leader(info.cluster) and leader and self._at_node is not None:
                # The leader's answer does not reach a node answering as such a member; at the
                # leader's own node it comes at once.
                there = await self._at_node(leader)
                if there is not None:
                    log.info(
                        "stream %s: this DC's node answered for its leader (%s); asked at %s's node",
                        stream,
                        _answerer(info.cluster),
                        leader,
                    )
                    info = await there.stream_info(stream)
            if not answered_by_leader(info.cluster):
                raise NotReady(f"the answer did not come from its leader ({_answerer(info.cluster)})")
            return int(info.state.last_seq)

        def asked_again(exc: BaseException) -> None:
            # Each try's outcome says where a wait for the log went (how the rebuilt DCs that
            # served 10-14 s late were explained: docs/PERFORMANCE.md, "Known gaps").
            why = "no answer within the wait" if isinstance(exc, TimeoutError) else repr(exc)
            log.info("stream %s: where it ends is asked again: %s", stream, why)

        deadline = None if deadline_s is None else time.monotonic() + deadline_s
        try:
            # A caller with a deadline is answering someone: ask again as briskly as a write does.
            backoff = PATIENT if deadline is None else BRISK
            return await ask(
                from_leader,
                retry_on=STARTUP_RETRYABLE,
                deadline=deadline,
                backoff=backoff,
                waits=self._answer_waits,
                on_retry=asked_again,
            )
        except STARTUP_RETRYABLE as exc:
            raise Unavailable(f"stream info {stream}: the log did not answer in time") from exc
