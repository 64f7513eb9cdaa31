"""Room commands: open, create, invite, leave, rename, mark read (the queries are
room_queries.py's; sending is messages.py's)."""

from __future__ import annotations

import secrets

from firebreak.adapters.nats_log import AppendAck, Log, SubjectNotEmpty
from firebreak.adapters.sqlite_queries import Queries
from firebreak.config import Config
from firebreak.domain import events as ev
from firebreak.domain.ids import (
    direct_room_id,
    group_room_id,
    partition_of,
    room_stream,
    room_subject,
)
from firebreak.domain.validation import check_client_id, check_name, check_position
from firebreak.errors import BadRequest, TooLarge
from firebreak.service.accounts import Accounts, now_ms
from firebreak.service.ratelimit import WriteLimiter
from firebreak.service.reuse import check_same_group, check_same_op
from firebreak.service.room_queries import RoomQueries
from firebreak.service.sync import Freshness
from firebreak.wire.views import (
    ReadResult,
    RoomView,
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
    ) -> None:
        """``room_key`` is the cluster secret that room ids are made with (domain/ids.py);
        ``views`` answers what a command returns (and who may issue it)."""
        self._partitions = config.partitions
        self._limits = config.limits
        self._log = log
        self._q = queries
        self._fresh = fresh
        self._accounts = accounts
        self._limiter = limiter
        self._views = views
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
