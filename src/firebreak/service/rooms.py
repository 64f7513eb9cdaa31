"""Room commands: open, create, invite, leave, rename, send, mark read (the queries are
room_queries.py's)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable

from firebreak.adapters.group_commit import GroupCommit
from firebreak.adapters.nats_log import AppendAck, Log, SubjectNotEmpty
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_rows import MessageRow
from firebreak.config import Config
from firebreak.domain import events as ev
from firebreak.domain.files import check_attachments
from firebreak.domain.ids import (
    direct_room_id,
    group_room_id,
    message_dedupe_id,
    partition_of,
    room_stream,
    room_subject,
)
from firebreak.domain.validation import check_client_id, check_message_text, check_name, check_position
from firebreak.errors import BadRequest, Conflict, TooLarge
from firebreak.service.accounts import Accounts, now_ms
from firebreak.service.ratelimit import Admission, WriteLimiter
from firebreak.service.reuse import check_same_group, check_same_op
from firebreak.service.room_queries import RoomQueries, message_view, unknown_room
from firebreak.service.sync import Freshness
from firebreak.wire.views import (
    ReadResult,
    RoomView,
    SendResult,
)


class Rooms:
    def __init__(
        self,
        config: Config,
        log: Log,
        queries: Queries,
        fresh: Freshness,
        accounts: Accounts,
        limiter: WriteLimiter,
        views: RoomQueries,
        room_key: bytes,
        appends: GroupCommit,
    ) -> None:
        """``room_key`` is the cluster secret that room ids are made with (domain/ids.py);
        ``views`` answers what a command returns (and who may issue it); messages are appended
        through ``appends`` (group commit), every other command straight to ``log``."""
        self._partitions = config.partitions
        self._limits = config.limits
        self._log = log
        self._q = queries
        self._fresh = fresh
        self._accounts = accounts
        self._limiter = limiter
        self._views = views
        self._room_key = room_key
        self._appends = appends

    # ---- helpers ------------------------------------------------------------------------------

    def _stream(self, room_id: str) -> str:
        return room_stream(partition_of(room_id, self._partitions))

    async def _append(self, event: ev.RoomEvent, msg_id: str, *, create: bool = False) -> AppendAck:
        with self._limiter.admit(event):
            appended = await self._log.append(
                room_subject(event.room_id, self._partitions),
                ev.encode(event),
                msg_id,
                expect_empty_subject=create,
            )
            await self._fresh.until_applied(appended)
        return appended

    async def _append_op(self, event: ev.RoomEvent, op: str, me: str, request_id: str | None) -> None:
        """Appends an invite, rename or leave; with a request_id, JetStream dedupes retries (for
        its dedupe window) and a duplicate must be the same operation, not the id reused."""
        appended = await self._append(event, self._op_id(op, event.room_id, me, request_id))
        if appended.duplicate:
            check_same_op(self._q, partition_of(event.room_id, self._partitions), appended.seq, event)

    def _check_name(self, name: str) -> str:
        return check_name(name, self._limits.max_room_name_chars, "invalid_room_name", "room name")

    # ---- commands -----------------------------------------------------------------------------

    async def open_direct(self, me: str, other_username: str) -> RoomView:
        """The 1:1 room with another user, created on first use; always the same room for the pair."""
        (other,) = await self._accounts.resolve([other_username])
        if other == me:
            raise BadRequest("a 1:1 room needs another person", code="cannot_chat_with_self")
        # The pair's room as the read model knows it, whatever its id was made with; a room opened
        # moments ago in another DC and not applied here yet has the keyed id this DC computes too,
        # so the create below finds it taken.
        room_id = self._q.direct_room(me, other) or direct_room_id(self._room_key, me, other)
        if self._q.room(room_id) is None:
            event = ev.RoomCreated(
                v=1, at=now_ms(), room_id=room_id, kind="direct", name="", creator=me, members=(other,)
            )
            try:
                await self._append(event, f"create:{room_id}", create=True)
            except SubjectNotEmpty:
                await self._fresh.barrier(self._stream(room_id))  # the other person opened it first
        return self._views.room_view(me, room_id)

    async def create_group(self, me: str, name: str, usernames: list[str], request_id: str) -> RoomView:
        """A group room; a retry with the same ``request_id`` returns the same room."""
        check_client_id(request_id, "request_id")
        name = self._check_name(name)
        if len(set(usernames)) + 1 > self._limits.max_group_members:
            raise TooLarge(
                f"a group has at most {self._limits.max_group_members} members", code="too_many_members"
            )
        members = tuple(u for u in await self._accounts.resolve(usernames) if u != me)
        room_id = group_room_id(self._room_key, me, request_id)
        if self._q.room(room_id) is None:
            event = ev.RoomCreated(
                v=1, at=now_ms(), room_id=room_id, kind="group", name=name, creator=me, members=members
            )
            try:
                await self._append(event, f"create:{room_id}", create=True)
            except SubjectNotEmpty:
                await self._fresh.barrier(self._stream(room_id))
        check_same_group(self._q, room_id, name, members)
        return self._views.room_view(me, room_id)

    async def invite(self, me: str, room_id: str, usernames: list[str], request_id: str | None) -> RoomView:
        room = await self._views.member_room(room_id, me)
        if room.kind != "group":
            raise BadRequest("1:1 rooms cannot take more members", code="not_a_group")
        user_ids = await self._accounts.resolve(usernames)
        current = len(self._q.memberships(room_id))
        if current + len(set(user_ids)) > self._limits.max_group_members:
            raise TooLarge(
                f"a group has at most {self._limits.max_group_members} members", code="too_many_members"
            )
        event = ev.MembersInvited(v=1, at=now_ms(), room_id=room_id, by=me, user_ids=tuple(user_ids))
        await self._append_op(event, "invite", me, request_id)
        return self._views.room_view(me, room_id)

    async def leave(self, me: str, room_id: str, request_id: str | None) -> None:
        room = await self._views.member_room(room_id, me)
        if room.kind != "group":
            raise BadRequest("1:1 rooms cannot be left", code="not_a_group")
        event = ev.MemberLeft(v=1, at=now_ms(), room_id=room_id, user_id=me)
        await self._append_op(event, "leave", me, request_id)

    async def rename(self, me: str, room_id: str, name: str, request_id: str | None) -> RoomView:
        room = await self._views.member_room(room_id, me)
        if room.kind != "group":
            raise BadRequest("1:1 rooms have no name", code="not_a_group")
        event = ev.RoomRenamed(v=1, at=now_ms(), room_id=room_id, by=me, name=self._check_name(name))
        await self._append_op(event, "rename", me, request_id)
        return self._views.room_view(me, room_id)

    @staticmethod
    def _op_id(op: str, room_id: str, me: str, request_id: str | None) -> str:
        """The log message id of a room operation: a request id names one operation on one room."""
        if request_id is None:
            return f"{op}:{room_id}:{me}:{secrets.token_hex(8)}"
        return f"{op}:{room_id}:{me}:{check_client_id(request_id, 'request_id')}"

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
        self, me: str, room_id: str, client_id: str, text: str, attachments: list[str] | None = None
    ) -> Awaitable[SendResult]:
        """Checks a send and queues its append (group commit, adapters/group_commit.py); the
        answer comes from the awaitable, which the caller must await. Sends queued one after
        another reach the room's log in that order, so a connection may have the next one of the
        same room checked and queued while this one is still being written."""
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
            appending = self._appends.append(
                room_subject(room_id, self._partitions),
                ev.encode(event),
                message_dedupe_id(room_id, me, client_id),
            )
        except BaseException:
            admission.release()
            raise
        return self._sent_when_applied(admission, appending, me, room_id, client_id)

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

    async def mark_read(self, me: str, room_id: str, up_to: int) -> ReadResult:
        """Marks messages up to ``up_to`` (a room_seq) read; positions only move forward."""
        check_position(up_to, "up_to (a message's room_seq)", minimum=1)
        await self._views.member_room(room_id, me)
        # No clamping here: this DC may not have applied the newest messages yet. The projection
        # clamps to the room's last message at the event's position in the log, the same in every DC.
        current = self._q.read_position(room_id, me)
        if up_to > current:
            event = ev.ReadUpTo(v=1, at=now_ms(), room_id=room_id, user_id=me, room_seq=up_to)
            await self._append(event, f"read:{me}:{room_id}:{up_to}")
        return ReadResult(room_id=room_id, read_room_seq=self._q.read_position(room_id, me))


async def _ready(result: SendResult) -> SendResult:
    return result
