"""Room commands (open, create, invite, leave, rename, send, mark read) and room queries."""

from __future__ import annotations

import secrets

from firebreak.adapters.nats_log import AppendAck, Log, SubjectNotEmpty
from firebreak.adapters.sqlite_queries import MembershipRow, MessageRow, Queries, RoomRow
from firebreak.config import Config
from firebreak.domain import events as ev
from firebreak.domain.ids import (
    direct_room_id,
    group_room_id,
    is_room_id,
    message_dedupe_id,
    partition_of,
    room_stream,
    room_subject,
)
from firebreak.domain.validation import check_client_id, check_message_text, check_name, check_position
from firebreak.errors import BadRequest, Conflict, NotFound, TooLarge
from firebreak.service.accounts import Accounts, now_ms, user_view
from firebreak.service.ratelimit import WriteLimiter
from firebreak.service.reuse import check_same_group, check_same_op
from firebreak.service.sync import Freshness
from firebreak.wire.views import (
    History,
    MemberView,
    MessageView,
    ReadResult,
    RoomDetail,
    RoomList,
    RoomView,
    SendResult,
    UserView,
)


def unknown_room() -> NotFound:
    """The one answer for a room that does not exist and for one the caller is not (or no longer) a
    member of: the same status, code and message, no room id echoed, so nobody learns from a refusal
    whether a room exists (docs/SECURITY.md)."""
    return NotFound("no such room among yours", code="unknown_room")


def unread_counts(messages: list[MessageRow], members: list[MembershipRow]) -> list[int]:
    """KakaoTalk's per-message number: members (who were in the room when it was sent) yet to read it."""
    return [
        sum(1 for m in members if m.joined_seq <= msg.seq and m.read_room_seq < msg.room_seq)
        for msg in messages
    ]


def message_view(row: MessageRow, unread: int) -> MessageView:
    return MessageView(
        room_id=row.room_id,
        room_seq=row.room_seq,
        sender=row.sender,
        client_id=row.client_id,
        text=row.text,
        at=row.at,
        unread=unread,
        p=row.p,
        seq=row.seq,
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
        room_key: bytes,
    ) -> None:
        """``room_key`` is the cluster secret that room ids are made with (domain/ids.py)."""
        self._partitions = config.partitions
        self._limits = config.limits
        self._log = log
        self._q = queries
        self._fresh = fresh
        self._accounts = accounts
        self._limiter = limiter
        self._room_key = room_key

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

    async def _member_room(self, room_id: str, user_id: str) -> RoomRow:
        """The room, if ``user_id`` is an active member; looks again after a barrier before refusing.

        A room that exists but is not the caller's gets :func:`unknown_room` like one that does not
        exist, by the same steps (a membership lookup, a barrier, the lookup again)."""
        if not is_room_id(room_id):
            raise unknown_room()
        if not self._q.is_active_member(room_id, user_id):
            await self._fresh.barrier(self._stream(room_id))
            if not self._q.is_active_member(room_id, user_id):
                raise unknown_room()
        room = self._q.room(room_id)
        if room is None:  # a membership comes with its room: never seen, but not worth a 500
            raise unknown_room()
        return room

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
        return self.room_view(me, room_id)

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
        return self.room_view(me, room_id)

    async def invite(self, me: str, room_id: str, usernames: list[str], request_id: str | None) -> RoomView:
        room = await self._member_room(room_id, me)
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
        return self.room_view(me, room_id)

    async def leave(self, me: str, room_id: str, request_id: str | None) -> None:
        room = await self._member_room(room_id, me)
        if room.kind != "group":
            raise BadRequest("1:1 rooms cannot be left", code="not_a_group")
        event = ev.MemberLeft(v=1, at=now_ms(), room_id=room_id, user_id=me)
        await self._append_op(event, "leave", me, request_id)

    async def rename(self, me: str, room_id: str, name: str, request_id: str | None) -> RoomView:
        room = await self._member_room(room_id, me)
        if room.kind != "group":
            raise BadRequest("1:1 rooms have no name", code="not_a_group")
        event = ev.RoomRenamed(v=1, at=now_ms(), room_id=room_id, by=me, name=self._check_name(name))
        await self._append_op(event, "rename", me, request_id)
        return self.room_view(me, room_id)

    @staticmethod
    def _op_id(op: str, room_id: str, me: str, request_id: str | None) -> str:
        """The log message id of a room operation: a request id names one operation on one room."""
        if request_id is None:
            return f"{op}:{room_id}:{me}:{secrets.token_hex(8)}"
        return f"{op}:{room_id}:{me}:{check_client_id(request_id, 'request_id')}"

    def _check_message(self, client_id: str, text: str) -> None:
        check_client_id(client_id)
        check_message_text(text, self._limits.max_message_chars)

    async def send(self, me: str, room_id: str, client_id: str, text: str) -> SendResult:
        """Sends once per (room, sender, client_id), whatever the retries and whichever DC they reach."""
        self._check_message(client_id, text)
        # Best effort: a client id already used in another room is refused (409). The log's rules
        # only dedupe within a room, so a race past this check yields two distinct messages, the
        # same in every DC.
        earlier = self._q.message_by_client_id(me, client_id)
        if earlier is not None:
            return self._sent(earlier, room_id, duplicate=True)
        event = ev.MessageSent(v=1, at=now_ms(), room_id=room_id, sender=me, client_id=client_id, text=text)
        # Admitted before the membership check: a flood is refused before it costs barriers.
        with self._limiter.admit(event):
            await self._member_room(room_id, me)
            appended = await self._log.append(
                room_subject(room_id, self._partitions),
                ev.encode(event),
                message_dedupe_id(room_id, me, client_id),
            )
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
                await self._member_room(room_id, me)
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
        await self._member_room(room_id, me)
        # No clamping here: this DC may not have applied the newest messages yet. The projection
        # clamps to the room's last message at the event's position in the log, the same in every DC.
        current = self._q.read_position(room_id, me)
        if up_to > current:
            event = ev.ReadUpTo(v=1, at=now_ms(), room_id=room_id, user_id=me, room_seq=up_to)
            await self._append(event, f"read:{me}:{room_id}:{up_to}")
        return ReadResult(room_id=room_id, read_room_seq=self._q.read_position(room_id, me))

    # ---- queries ------------------------------------------------------------------------------

    def room_view(self, me: str, room_id: str) -> RoomView:
        for room, read, unread in self._q.rooms_of(me):
            if room.room_id == room_id:
                return self._room_view(me, room, read, unread)
        raise unknown_room()

    def _room_view(self, me: str, room: RoomRow, read: int, unread: int) -> RoomView:
        members = self._q.memberships(room.room_id)
        last = self._q.message(room.room_id, room.last_room_seq) if room.last_room_seq else None
        last_view = message_view(last, unread_counts([last], members)[0]) if last else None
        peer: UserView | None = None
        if room.kind == "direct":
            other = next((m.user_id for m in members if m.user_id != me), None)
            row = self._q.user_by_id(other) if other else None
            peer = user_view(row) if row else None
        return RoomView(
            room_id=room.room_id,
            kind=room.kind,
            name=room.name,
            member_count=len(members),
            last_room_seq=room.last_room_seq,
            read_room_seq=read,
            unread=unread,
            last_message=last_view,
            peer=peer,
        )

    def list_rooms(self, me: str) -> RoomList:
        return RoomList(
            rooms=[self._room_view(me, r, read, unread) for r, read, unread in self._q.rooms_of(me)]
        )

    async def detail(self, me: str, room_id: str) -> RoomDetail:
        await self._member_room(room_id, me)
        members = self._q.memberships(room_id)
        names = self._q.display_names([m.user_id for m in members])
        return RoomDetail(
            room=self.room_view(me, room_id),
            members=[
                MemberView(
                    user_id=m.user_id,
                    username=names.get(m.user_id, ("", ""))[0],
                    display_name=names.get(m.user_id, ("", ""))[1],
                    read_room_seq=m.read_room_seq,
                )
                for m in members
            ],
        )

    async def history(
        self, me: str, room_id: str, before: int | None, after: int | None, limit: int
    ) -> History:
        """A page of messages, oldest first: backwards from ``before`` (or the newest), or forwards
        from ``after``. ``more`` says whether the page was cut short by ``limit``."""
        if not 1 <= limit <= self._limits.history_page_max:
            raise BadRequest(f"limit must be 1-{self._limits.history_page_max}", code="invalid_limit")
        if before is not None and after is not None:
            raise BadRequest("give before or after, not both", code="invalid_position")
        if before is not None:
            check_position(before, "before", minimum=1)
        if after is not None:
            check_position(after, "after", minimum=0)
        await self._member_room(room_id, me)
        if after is not None:
            rows = self._q.history_after(room_id, after, limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
        else:
            rows = self._q.history_before(room_id, before, limit + 1)
            more = len(rows) > limit
            rows = rows[-limit:] if more else rows
        counts = unread_counts(rows, self._q.memberships(room_id))
        return History(messages=[message_view(r, n) for r, n in zip(rows, counts, strict=True)], more=more)
