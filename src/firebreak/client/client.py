"""The client's calls: accounts, rooms, messages, search and the wallet, each over
:class:`~firebreak.client.transport.Transport` (failover and retries).

Writes carry a client-chosen id, so :meth:`Client.send` simply retries, on any DC, with the same id
until one DC acknowledges: the server turns every retry into the same single message. With a live
connection (:meth:`Client.use_live`), sends and mark-reads go over it while it is live
(client/live_sends.py), and over HTTP otherwise; a room's sends keep the order they were given
in across the two (client/room_order.py).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from urllib.parse import urlencode

from firebreak.client.files import FileCalls
from firebreak.client.live import LiveConnection
from firebreak.client.live_sends import LiveSends, UseHttp
from firebreak.client.room_order import RoomOrder
from firebreak.client.transport import ANSWERED_BY, ApiError, TryAgain, Unreachable, new_id
from firebreak.errors import FirebreakError
from firebreak.wire.presence_views import PresenceList, TypingView
from firebreak.wire.requests import (
    BatchBody,
    DirectBody,
    EditBody,
    GroupBody,
    InviteBody,
    LeaveBody,
    LoginBody,
    PasswordBody,
    ReactBody,
    ReadBody,
    RegisterBody,
    RenameBody,
    SendBody,
    TransferBody,
    TypingBody,
)
from firebreak.wire.views import (
    BatchResult,
    EditHistory,
    History,
    MessageView,
    ReadResult,
    RoomDetail,
    RoomList,
    RoomView,
    SearchResult,
    SendResult,
    SessionList,
    SessionView,
    UserView,
)
from firebreak.wire.wallet_views import TransferView, WalletHistory, WalletView

__all__ = ["ANSWERED_BY", "ApiError", "Client", "TryAgain", "Unreachable", "new_id"]


class Client(FileCalls):
    #: Commands over the live connection, once :meth:`use_live` gave one.
    live_sends: LiveSends | None = None
    #: With a live connection: the order of each room's sends across the two paths.
    _room_order: RoomOrder

    def use_live(self, live: LiveConnection) -> LiveSends:
        """Sends (and marks read) over ``live`` whenever it is live, instead of HTTP."""
        self.live_sends = LiveSends(live)
        self._room_order = RoomOrder()
        return self.live_sends

    # ---- accounts -----------------------------------------------------------------------------

    async def register(self, username: str, password: str, display_name: str | None = None) -> UserView:
        body = RegisterBody(username, password, request_id=new_id(), display_name=display_name)
        return await self.request("POST", "/v1/accounts", body, type=UserView)

    async def login(self, username: str, password: str) -> SessionView:
        session = await self.request("POST", "/v1/sessions", LoginBody(username, password), type=SessionView)
        self.token = session.token
        self.user = session.user
        return session

    async def logout(self) -> None:
        await self.request("DELETE", "/v1/sessions/current", type=dict)
        self.token = None

    async def list_sessions(self) -> SessionList:
        """The user's live sessions, newest first; ``current`` marks this client's."""
        return await self.request("GET", "/v1/sessions", type=SessionList)

    async def logout_everywhere(self, request_id: str | None = None) -> SessionList:
        """Ends every other session of the user, in every DC (this one stays: :meth:`logout` ends
        it); returns the sessions left. Retries are safe: they carry the same request id."""
        rid = request_id or new_id()
        return await self.request("DELETE", f"/v1/sessions?request_id={rid}", type=SessionList)

    async def end_session(self, session_id: str) -> None:
        """Ends one session of the user (another device's), in every DC."""
        await self.request("DELETE", f"/v1/sessions/{session_id}", type=dict)

    async def change_password(self, current: str, new: str, request_id: str | None = None) -> None:
        """Changes the password and ends every other session of the user; this one stays."""
        body = PasswordBody(current, new, request_id or new_id())
        await self.request("PUT", "/v1/me/password", body, type=dict)

    async def me(self) -> UserView:
        return await self.request("GET", "/v1/me", type=UserView)

    # ---- rooms --------------------------------------------------------------------------------

    async def open_direct(self, username: str) -> RoomView:
        return await self.request("POST", "/v1/rooms/direct", DirectBody(username), type=RoomView)

    async def create_group(self, name: str, members: list[str], request_id: str | None = None) -> RoomView:
        body = GroupBody(name, members, request_id or new_id())
        return await self.request("POST", "/v1/rooms", body, type=RoomView)

    async def invite(self, room_id: str, members: list[str]) -> RoomView:
        body = InviteBody(members, new_id())
        return await self.request("POST", f"/v1/rooms/{room_id}/members", body, type=RoomView)

    async def leave(self, room_id: str) -> None:
        await self.request("POST", f"/v1/rooms/{room_id}/leave", LeaveBody(new_id()), type=dict)

    async def rename(self, room_id: str, name: str) -> RoomView:
        return await self.request("PATCH", f"/v1/rooms/{room_id}", RenameBody(name, new_id()), type=RoomView)

    async def rooms(self) -> RoomList:
        return await self.request("GET", "/v1/rooms", type=RoomList)

    async def room(self, room_id: str) -> RoomDetail:
        return await self.request("GET", f"/v1/rooms/{room_id}", type=RoomDetail)

    async def send(
        self,
        room_id: str,
        text: str,
        client_id: str | None = None,
        *,
        deadline_s: float | None = None,
        on_retry: Callable[[FirebreakError], None] | None = None,
        answer_headers: dict[str, str] | None = None,
        attachments: list[str] | None = None,
    ) -> SendResult:
        """Sends with retries across DCs until acknowledged; the id makes every retry the same message.
        ``deadline_s``, ``on_retry`` and ``answer_headers`` as for :meth:`request` (an outbox passes
        ``math.inf``)."""
        body = SendBody(client_id=client_id or new_id(), text=text, attachments=attachments)
        path = f"/v1/rooms/{room_id}/messages"
        write = self._room_write
        over_http = functools.partial(
            write, room_id, path, body, SendResult, deadline_s, on_retry, answer_headers=answer_headers
        )
        sends = self.live_sends
        if sends is None:
            return await over_http()
        order = self._room_order
        place = order.join(room_id)
        try:
            # A caller that asks for the answer's headers (which DC answered) gets an HTTP answer,
            # and so does a message with attachments (the socket's send command carries text only).
            # While the connection is down, a send waits for the next one behind the room's
            # earlier ones, if they wait for it too.
            socket = answer_headers is None and not attachments and order.may_take_socket(place)
            if socket and (sends.ready or order.follows_socket(place)):
                deadline = self.retry_deadline if deadline_s is None else deadline_s
                try:
                    return await sends.send(
                        room_id, body.client_id, text, deadline_s=deadline, on_retry=on_retry,
                        handed_back=place.to_http,
                    )  # fmt: skip
                except UseHttp:
                    pass  # this DC takes no writes now, or no connection: HTTP fails over
            await order.http_turn(place)
            return await over_http()
        finally:
            order.leave(place)

    async def send_batch(self, room_id: str, items: list[tuple[str, str]]) -> BatchResult:
        """Sends (client_id, text) pairs in one request, in order, all or none; retries are safe."""
        body = BatchBody([SendBody(client_id=cid, text=text) for cid, text in items])
        return await self._room_write(room_id, f"/v1/rooms/{room_id}/messages/batch", body, BatchResult)

    async def history(
        self, room_id: str, *, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> History:
        params = [f"limit={limit}"]
        if before is not None:
            params.append(f"before={before}")
        if after is not None:
            params.append(f"after={after}")
        return await self.request("GET", f"/v1/rooms/{room_id}/messages?{'&'.join(params)}", type=History)

    async def edit_message(
        self, room_id: str, room_seq: int, text: str, client_id: str | None = None
    ) -> MessageView:
        """Replaces the text of one's own message; retries are safe (one edit per client_id)."""
        body = EditBody(client_id=client_id or secrets.token_hex(8), text=text)
        return await self._room_write(
            room_id, f"/v1/rooms/{room_id}/messages/{room_seq}", body, MessageView, method="PATCH"
        )

    async def delete_message(self, room_id: str, room_seq: int) -> MessageView:
        """Deletes one's own message for everyone; retries are safe."""
        return await self._room_write(
            room_id, f"/v1/rooms/{room_id}/messages/{room_seq}", None, MessageView, method="DELETE"
        )

    async def react(
        self, room_id: str, room_seq: int, emoji: str, *, on: bool = True, request_id: str | None = None
    ) -> MessageView:
        """Adds (or with ``on=False`` removes) one's reaction; doing it twice changes nothing."""
        body = ReactBody(emoji=emoji, on=on, request_id=request_id or secrets.token_hex(8))
        path = f"/v1/rooms/{room_id}/messages/{room_seq}/reactions"
        return await self._room_write(room_id, path, body, MessageView)

    async def edit_history(self, room_id: str, room_seq: int) -> EditHistory:
        return await self.request("GET", f"/v1/rooms/{room_id}/messages/{room_seq}/edits", type=EditHistory)

    async def search(
        self,
        query: str,
        *,
        room_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        order: str = "newest",
    ) -> SearchResult:
        """``order``: ``newest`` (first) or ``relevance`` (best first)."""
        params: dict[str, str] = {"q": query, "order": order}
        if room_id is not None:
            params["room_id"] = room_id
        if limit is not None:
            params["limit"] = str(limit)
        if cursor is not None:
            params["cursor"] = cursor
        return await self.request("GET", f"/v1/search?{urlencode(params)}", type=SearchResult)

    async def mark_read(self, room_id: str, up_to: int) -> ReadResult:
        sends = self.live_sends
        if sends is not None and sends.ready:
            try:
                return await sends.mark_read(room_id, up_to, deadline_s=self.retry_deadline)
            except UseHttp:
                pass
        return await self.request("POST", f"/v1/rooms/{room_id}/read", ReadBody(up_to), type=ReadResult)

    async def typing(self, room_id: str, typing: bool = True) -> TypingView:
        """Tells the room's other members that this user is typing (False: stopped). Not retried:
        a note late or lost matters little, and a 429 (more than a few a second) raises at once."""
        path = f"/v1/rooms/{room_id}/typing"
        return await self.request("POST", path, TypingBody(typing), type=TypingView, retry=False)

    async def presence(self, room_id: str) -> PresenceList:
        """Who of the room's members is online, and when the others were last seen."""
        return await self.request("GET", f"/v1/rooms/{room_id}/presence", type=PresenceList)

    # ---- wallet -------------------------------------------------------------------------------

    async def transfer(
        self,
        to: str,
        amount: int,
        client_id: str | None = None,
        *,
        dc: int | None = None,
        room_id: str | None = None,
    ) -> TransferView:
        """Pays ``amount`` to the user named ``to``; retried across DCs with the same id, so it
        moves money once (a repeat answers the first result)."""
        body = TransferBody(client_id=client_id or new_id(), to=to, amount=amount, room_id=room_id)
        return await self.request("POST", "/v1/wallet/transfers", body, type=TransferView, dc=dc)

    async def wallet(self, at_least: int | None = None) -> WalletView:
        query = "" if at_least is None else f"?at_least={at_least}"
        return await self.request("GET", f"/v1/wallet{query}", type=WalletView)

    async def wallet_history(
        self, *, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> WalletHistory:
        params = [f"limit={limit}"]
        if before is not None:
            params.append(f"before={before}")
        if after is not None:
            params.append(f"after={after}")
        return await self.request("GET", f"/v1/wallet/history?{'&'.join(params)}", type=WalletHistory)
