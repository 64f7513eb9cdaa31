"""Sending messages: one at a time (queued for the room's group commit, so a connection may
pipeline them) or as one atomic batch; each once per (room, sender, client id), whatever the
retries and whichever DC they reach."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from functools import partial

from firebreak.adapters.group_commit import GroupCommit
from firebreak.adapters.nats_log import AppendAck, Log
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_rows import MessageRow
from firebreak.config import Config
from firebreak.domain import events as ev
from firebreak.domain.files import check_attachments
from firebreak.domain.ids import message_dedupe_id, partition_of, room_stream, room_subject
from firebreak.domain.send_order import SendOrder
from firebreak.domain.validation import check_client_id, check_message_text
from firebreak.errors import BadRequest, Conflict, says_try_again
from firebreak.service.accounts import now_ms
from firebreak.service.ratelimit import Admission, WriteLimiter
from firebreak.service.room_queries import RoomQueries, message_view, unknown_room
from firebreak.service.sync import Freshness
from firebreak.wire.commands import EARLIER_SEND_FAILED
from firebreak.wire.views import SendResult


class Messages:
    def __init__(
        self,
        config: Config,
        log: Log,
        queries: Queries,
        fresh: Freshness,
        limiter: WriteLimiter,
        views: RoomQueries,
        appends: GroupCommit,
    ) -> None:
        """``views`` says who may send where; single messages are appended through ``appends``
        (group commit), batches straight to ``log``."""
        self._partitions = config.partitions
        self._limits = config.limits
        self._log = log
        self._q = queries
        self._fresh = fresh
        self._limiter = limiter
        self._views = views
        self._appends = appends

    def _check_message(self, client_id: str, text: str, attachments: tuple[str, ...] = ()) -> None:
        check_client_id(client_id)
        if attachments:
            check_attachments(attachments, self._limits.max_attachments)
            if not text:
                return  # a photo alone
        check_message_text(text, self._limits.max_message_chars)

    async def send(
        self, me: str, room_id: str, client_id: str, text: str, attachments: list[str] | None = None
    ) -> SendResult:
        """Sends once per (room, sender, client_id), whatever the retries and whichever DC they reach."""
        return await (await self.queue_send(me, room_id, client_id, text, attachments))

    async def queue_send(
        self,
        me: str,
        room_id: str,
        client_id: str,
        text: str,
        attachments: list[str] | None = None,
        order: SendOrder | None = None,
        arrival: int = 0,
    ) -> Awaitable[SendResult]:
        """Checks a send and queues its append (group commit, adapters/group_commit.py); the
        answer comes from the awaitable, which the caller must await. Sends queued one after
        another reach the room's log in that order, so a connection may have the next one of the
        same room checked and queued while this one is still being written. With ``order`` (the
        connection's, domain/send_order.py; ``arrival``: this send's number there) a send that
        arrived after one of the room's that was not taken is refused (409
        ``earlier_send_failed``), and an append that fails holds the later ones."""
        files = tuple(attachments or ())
        self._check_message(client_id, text, files)
        # Best effort: a client id already used in another room is refused (409). The log's rules
        # only dedupe within a room, so a race past this check yields two distinct messages, the
        # same in every DC.
        earlier = self._q.message_by_client_id(me, client_id)
        if earlier is not None:
            return _ready(self._sent(earlier, room_id, duplicate=True))
        event = ev.MessageSent(
            v=2 if files else 1,
            at=now_ms(),
            room_id=room_id,
            sender=me,
            client_id=client_id,
            text=text,
            attachments=files,
        )
        # Admitted before the membership check: a flood is refused before it costs barriers.
        admission = self._limiter.admit(event)
        try:
            await self._views.member_room(room_id, me)
            if files:
                await self._files_of_room(room_id, files)
            # Checked with nothing awaited before the append: a failure of the room's earlier
            # append that is seen after this check holds this one back through group commit.
            # A send taken again after a refusal is held by its first arrival should it fail.
            first = (
                arrival
                if order is None
                else order.may_take(room_id, client_id, arrival, partial(self._stored, me))
            )
            if first is None:
                raise Conflict(
                    "an earlier send to this room on this connection was not taken: send the"
                    " refused ones again first",
                    code=EARLIER_SEND_FAILED,
                )
            appending = self._appends.append(
                room_subject(room_id, self._partitions),
                ev.encode(event),
                message_dedupe_id(room_id, me, client_id),
                None if order is None else partial(_hold_if_not_taken, order, room_id, client_id, first),
            )
        except BaseException:
            admission.release()
            raise
        return self._sent_when_applied(admission, appending, me, room_id, client_id)

    def _stored(self, me: str, client_id: str) -> bool:
        return self._q.message_by_client_id(me, client_id) is not None

    async def _sent_when_applied(
        self,
        admission: Admission,
        appending: asyncio.Future[AppendAck],
        me: str,
        room_id: str,
        client_id: str,
    ) -> SendResult:
        with admission:
            appended = await appending
            await self._fresh.until_applied(appended)
        row = self._q.message_by_client_id(me, client_id, room_id)
        if row is None:
            # The projection refused it (we left the room between the check and the append).
            raise unknown_room()
        return self._sent(row, room_id, duplicate=appended.duplicate or row.seq != appended.seq)

    async def send_batch(self, me: str, room_id: str, items: list[tuple[str, str]]) -> list[SendResult]:
        """Sends ``items`` ((client_id, text), in order) as one atomic log append: the new ones get
        consecutive numbers in the room, in this order, or none is sent. Ids sent before (in any
        earlier request or batch) come back as duplicates, as with :meth:`send`."""
        limit = self._limits.max_batch_messages
        if not 1 <= len(items) <= limit:
            raise BadRequest(f"a batch holds 1-{limit} messages", code="invalid_batch")
        if len({cid for cid, _ in items}) != len(items):
            raise BadRequest("each message in a batch needs its own client_id", code="invalid_batch")
        for client_id, text in items:
            self._check_message(client_id, text)
        client_ids = [cid for cid, _ in items]
        known = self._q.messages_by_client_ids(me, client_ids)
        new = [(cid, text) for cid, text in items if cid not in known]
        first = last = 0
        if new:
            at = now_ms()
            events = [
                ev.MessageSent(v=1, at=at, room_id=room_id, sender=me, client_id=cid, text=text)
                for cid, text in new
            ]
            with self._limiter.admit(*events):
                await self._views.member_room(room_id, me)
                payloads = [ev.encode(event) for event in events]
                appended = await self._log.append_batch(room_subject(room_id, self._partitions), payloads)
                await self._fresh.until_applied(appended)
            first, last = appended.seq - len(new) + 1, appended.seq
        stored = self._q.messages_by_client_ids(me, [cid for cid, _ in new], room_id) if new else {}
        # The new messages' unread numbers in one statement, not one per message.
        seqs = [row.room_seq for row in stored.values()]
        unread = self._q.unread_counts(room_id, min(seqs), max(seqs)) if seqs else {}
        results = []
        for client_id in client_ids:
            row = known.get(client_id) or stored.get(client_id)
            if row is None:
                raise unknown_room()
            duplicate = not first <= row.seq <= last
            counted = None if duplicate else unread.get(row.room_seq)
            results.append(self._sent(row, room_id, duplicate=duplicate, unread=counted))
        return results

    async def _files_of_room(self, room_id: str, files: tuple[str, ...]) -> None:
        """Refuses files that are not this room's (after a barrier: one completed a moment ago
        at another DC may not be applied here yet)."""
        if len(self._q.files_in_room(room_id, list(files))) != len(files):
            await self._fresh.barrier(room_stream(partition_of(room_id, self._partitions)))
            if len(self._q.files_in_room(room_id, list(files))) != len(files):
                raise BadRequest("attachments must be files stored in this room", code="invalid_attachments")

    def _sent(
        self, row: MessageRow, room_id: str, *, duplicate: bool, unread: int | None = None
    ) -> SendResult:
        """The answer for ``row``; ``unread`` if the caller counted it already."""
        if row.room_id != room_id:
            raise Conflict(
                "this client_id was already used for a message in another room", code="client_id_reused"
            )
        if unread is None:
            unread = self._q.unread_count(row.room_id, row.seq, row.room_seq)
        return SendResult(message=message_view(row, unread), duplicate=duplicate)


def _hold_if_not_taken(
    order: SendOrder, room_id: str, client_id: str, arrival: int, exc: BaseException
) -> None:
    if says_try_again(exc):
        order.refused(room_id, client_id, arrival)


async def _ready(result: SendResult) -> SendResult:
    return result
