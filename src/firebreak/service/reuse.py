"""Telling a retry from a reused id: the same ``request_id`` with another body is refused with
409 instead of answering with what the first body did.

Each check compares with what the log already holds for the id, as this DC's read model applied
it (docs/IDEMPOTENCY.md); a check that finds nothing to compare with lets the request through.
"""

from __future__ import annotations

import msgspec

from firebreak.adapters.sqlite_queries import Queries
from firebreak.domain.events import RoomCreated, RoomEvent
from firebreak.domain.model import ClientEvent
from firebreak.errors import Conflict

_client_event = msgspec.json.Decoder(ClientEvent)


def check_same_group(q: Queries, room_id: str, name: str, members: tuple[str, ...]) -> None:
    """A group's id derives from its creator's request_id: the stored creation must match."""
    body = q.creation_body(room_id)
    created = _client_event.decode(body).event if body is not None else None
    if not isinstance(created, RoomCreated) or created.room_id != room_id:
        return
    if created.name != name or set(created.members) != set(members):
        raise Conflict(
            "this request_id already created a group with another name or other members",
            code="request_id_reused",
        )


def check_same_op(q: Queries, partition: int, seq: int, event: RoomEvent) -> None:
    """JetStream acknowledged ``event``'s append as a duplicate of the entry at ``seq``: refuse if
    that entry is another operation. (An entry the projection refused changed nothing, and has
    nothing to compare with.)"""
    body = q.event_body(partition, seq)
    if body is None:
        return
    stored = _client_event.decode(body).event
    if type(stored) is not type(event) or msgspec.structs.replace(stored, at=event.at) != event:
        raise Conflict("this request_id was already used for another operation", code="request_id_reused")
