"""What the API returns: typed values, encoded with msgspec and described in the OpenAPI document."""

from __future__ import annotations

import msgspec

from firebreak.domain.events import RoomKind
from firebreak.wire.file_views import FILE_VIEWS
from firebreak.wire.presence_views import PRESENCE_VIEWS
from firebreak.wire.wallet_views import WALLET_VIEWS

#: Response header on a room's writes: the HTTP URL of the DC whose node leads the room's log
#: stream. Clients send the room's next writes there; any DC accepts them all the same (docs/API.md).
WRITE_URL_HEADER = "firebreak-write-url"


class UserView(msgspec.Struct, frozen=True):
    user_id: str
    username: str
    display_name: str


class SessionView(msgspec.Struct, frozen=True):
    token: str
    session_id: str
    expires_at: int
    user: UserView


class SessionInfo(msgspec.Struct, frozen=True):
    """One live session of the user (never its token)."""

    session_id: str
    #: When it started (the login), milliseconds since the epoch.
    started_at: int
    #: When its token expires, seconds since the epoch.
    expires_at: int
    #: The DC that accepted the login.
    dc: str
    #: The client's description: its User-Agent, cut to ``max_client_chars`` (docs/LIMITS.md).
    client: str
    #: True for the session that asked.
    current: bool


class SessionList(msgspec.Struct, frozen=True):
    #: Newest first.
    sessions: list[SessionInfo]


class ReactionView(msgspec.Struct, frozen=True):
    """One emoji on a message: how many reacted with it, and who (user ids, first reaction first)."""

    emoji: str
    count: int
    users: list[str]


class MessageView(msgspec.Struct, frozen=True):
    room_id: str
    room_seq: int
    sender: str
    client_id: str
    text: str
    at: int
    #: KakaoTalk's number: members who have not read this message yet.
    unread: int
    #: Log position (partition, stream sequence): the same in every DC.
    p: int
    seq: int
    #: When the text was last edited (milliseconds since the epoch; 0: never).
    edited_at: int = 0
    #: Deleted for everyone by its sender: ``text`` is empty.
    deleted: bool = False
    #: Reactions, in the order of the reaction set (docs/API.md).
    reactions: list[ReactionView] = msgspec.field(default_factory=list)
    #: Files of the room this message shows, by id (``GET /v1/files/{id}/info``, docs/FILES.md).
    attachments: list[str] = msgspec.field(default_factory=list)


class TextVersion(msgspec.Struct, frozen=True):
    text: str
    #: When this version was written (the sending, or the edit that made it), milliseconds.
    at: int


class EditHistory(msgspec.Struct, frozen=True):
    """A message's texts, oldest first, the current one last (only its sender's edits made them;
    a deleted message has none)."""

    message: MessageView
    versions: list[TextVersion]


class SendResult(msgspec.Struct, frozen=True):
    message: MessageView
    #: True when this id had been sent before: the first copy is returned, nothing new was created.
    duplicate: bool


class BatchResult(msgspec.Struct, frozen=True):
    #: one per message, in the request's order
    results: list[SendResult]


class MemberView(msgspec.Struct, frozen=True):
    user_id: str
    username: str
    display_name: str
    read_room_seq: int


class RoomView(msgspec.Struct, frozen=True):
    room_id: str
    kind: RoomKind
    name: str
    member_count: int
    last_room_seq: int
    read_room_seq: int
    unread: int
    last_message: MessageView | None
    #: For 1:1 rooms, the other person.
    peer: UserView | None = None


class RoomDetail(msgspec.Struct, frozen=True):
    room: RoomView
    members: list[MemberView]


class RoomList(msgspec.Struct, frozen=True):
    rooms: list[RoomView]


class History(msgspec.Struct, frozen=True):
    messages: list[MessageView]
    #: True if older (for backwards pages) or newer (forwards) messages exist beyond this page.
    more: bool


class SearchHit(msgspec.Struct, frozen=True):
    """One message that matches a search."""

    room_id: str
    room_seq: int
    sender: str
    at: int
    #: Log position (partition, stream sequence): the same in every DC.
    p: int
    seq: int
    #: Plain text around the hits, with "…" where the message was cut (never HTML).
    snippet: str
    #: The hits in ``snippet``: [start, end) offsets in characters (Unicode code points).
    highlights: list[list[int]]


class SearchResult(msgspec.Struct, frozen=True):
    """A page of search hits: best first (``ranked``) or, for queries of only 1-2 character
    words, newest first among each room's newest messages (docs/API.md)."""

    hits: list[SearchHit]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None
    ranked: bool


class ReadResult(msgspec.Struct, frozen=True):
    room_id: str
    read_room_seq: int


class Ok(msgspec.Struct, frozen=True):
    ok: bool = True


class Health(msgspec.Struct, frozen=True, omit_defaults=True):
    """``GET /healthz`` of a serving gateway (a starting one answers ``ready: false`` and what it
    is waiting for, entrypoints/gateway/starting.py)."""

    dc: str
    #: Where this DC's read model stands, as a cursor and per stream.
    cursor: str
    head: dict[str, int]
    #: Live WebSocket sessions at this DC.
    connections: int
    draining: bool
    caught_up: bool
    #: Each stream's replica reader: its state.
    readers: dict[str, str]
    #: Serving: readers running and the read model caught up with the log.
    ready: bool
    #: While not ready: what it waits for.
    waiting_for: str | None = None
    #: Which of the DC's gateway processes answered (config.DCConfig.gateways; 1 is left out).
    process: int = 1


class Drained(msgspec.Struct, frozen=True):
    """``POST /internal/drain``: the DC refuses new work and its live sessions ended."""

    dc: str
    #: Live sessions ended, in every gateway process that drained.
    ended_sessions: int
    #: The DC's gateway processes that drained (the one asked and those that answered it in
    #: time), of how many it runs (config.DCConfig.gateways).
    processes_drained: int
    processes: int
    draining: bool = True


class Digest(msgspec.Struct, frozen=True):
    """``GET /internal/digest``: what every DC's read model must agree on once settled."""

    dc: str
    head: dict[str, int]
    #: A sha256 per table of the rows every DC must agree on, and the tables' row counts.
    digest: dict[str, str]
    counts: dict[str, int]


class SiteView(msgspec.Struct, frozen=True):
    """A site the user let sign them in with Firebreak (OpenID Connect, docs/LOGIN.md)."""

    client_id: str
    name: str
    #: What the site sees: ``openid`` (the user id), ``profile`` (display name and username).
    scope: str
    #: When the consent was given, seconds since the epoch.
    granted_at: int


class SiteList(msgspec.Struct, frozen=True):
    """``GET /v1/me/sites``."""

    sites: list[SiteView]


ALL_VIEWS: tuple[type[msgspec.Struct], ...] = (
    UserView,
    SessionView,
    SessionInfo,
    SessionList,
    ReactionView,
    MessageView,
    TextVersion,
    EditHistory,
    SendResult,
    BatchResult,
    MemberView,
    RoomView,
    RoomDetail,
    RoomList,
    History,
    SearchHit,
    SearchResult,
    ReadResult,
    Ok,
    Health,
    Digest,
    Drained,
    SiteView,
    SiteList,
    *WALLET_VIEWS,
    *PRESENCE_VIEWS,
    *FILE_VIEWS,
)
