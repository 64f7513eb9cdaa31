"""Room queries: the rooms of a user, a room's details and members, history pages, and who may
see a room (the same answer for no room and not yours)."""

from __future__ import annotations

from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_rows import MembershipRow, MessageRow, RoomRow
from firebreak.config import Config
from firebreak.domain.ids import is_room_id, partition_of, room_stream
from firebreak.domain.reactions import REACTIONS
from firebreak.domain.validation import check_position
from firebreak.errors import BadRequest, NotFound
from firebreak.service.accounts import user_view
from firebreak.service.sync import Freshness
from firebreak.wire.views import (
    History,
    MemberView,
    MessageView,
    ReactionView,
    RoomDetail,
    RoomList,
    RoomView,
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


def reaction_views(pairs: list[tuple[str, str]]) -> list[ReactionView]:
    """(emoji, user_id) pairs, in reaction order -> one view per emoji, in the set's order."""
    users: dict[str, list[str]] = {}
    for emoji, user_id in pairs:
        users.setdefault(emoji, []).append(user_id)
    return [ReactionView(emoji=e, count=len(users[e]), users=users[e]) for e in REACTIONS if e in users]


def message_view(row: MessageRow, unread: int, reactions: list[tuple[str, str]] | None = None) -> MessageView:
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
        edited_at=row.edited_at,
        deleted=row.deleted_at != 0,
        reactions=reaction_views(reactions) if reactions else [],
        attachments=row.attachments.split(),
    )


class RoomQueries:
    def __init__(self, config: Config, queries: Queries, fresh: Freshness) -> None:
        self._partitions = config.partitions
        self._limits = config.limits
        self._q = queries
        self._fresh = fresh

    async def member_room(self, room_id: str, user_id: str) -> RoomRow:
        """The room, if ``user_id`` is an active member; looks again after a barrier before refusing.

        A room that exists but is not the caller's gets :func:`unknown_room` like one that does not
        exist, by the same steps (a membership lookup, a barrier, the lookup again)."""
        if not is_room_id(room_id):
            raise unknown_room()
        if not self._q.is_active_member(room_id, user_id):
            await self._fresh.barrier(room_stream(partition_of(room_id, self._partitions)))
            if not self._q.is_active_member(room_id, user_id):
                raise unknown_room()
        room = self._q.room(room_id)
        if room is None:  # a membership comes with its room: never seen, but not worth a 500
            raise unknown_room()
        return room

    def room_view(self, me: str, room_id: str) -> RoomView:
        for room, read, unread in self._q.rooms_of(me):
            if room.room_id == room_id:
                return self._room_view(me, room, read, unread)
        raise unknown_room()

    def _room_view(self, me: str, room: RoomRow, read: int, unread: int) -> RoomView:
        members = self._q.memberships(room.room_id)
        last = self._q.message(room.room_id, room.last_room_seq) if room.last_room_seq else None
        last_view = None
        if last is not None:
            reacted = self._q.reactions(room.room_id, last.room_seq, last.room_seq).get(last.room_seq)
            last_view = message_view(last, unread_counts([last], members)[0], reacted)
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
        await self.member_room(room_id, me)
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
        await self.member_room(room_id, me)
        if after is not None:
            rows = self._q.history_after(room_id, after, limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
        else:
            rows = self._q.history_before(room_id, before, limit + 1)
            more = len(rows) > limit
            rows = rows[-limit:] if more else rows
        counts = unread_counts(rows, self._q.memberships(room_id))
        reacted = self._q.reactions(room_id, rows[0].room_seq, rows[-1].room_seq) if rows else {}
        return History(
            messages=[message_view(r, n, reacted.get(r.room_seq)) for r, n in zip(rows, counts, strict=True)],
            more=more,
        )
