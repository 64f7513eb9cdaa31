"""The AsyncAPI 3.0 description of the live WebSocket (``/v1/ws``), served at ``/asyncapi.json``
beside the OpenAPI document (which cannot describe a WebSocket): the query it takes, the frames the
gateway sends, the commands it takes and their acks, and the close codes.

Its schemas are generated from the msgspec types both ends use (wire/frames.py, wire/commands.py),
and each frame kind's message from ``FRAME_FIELDS``, so the description cannot drift from the
code; tests/test_asyncapi.py validates real frames and commands against it. docs/API.md says what
a client does with each.
"""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.responses import Response

from firebreak.entrypoints.gateway.hot import (
    WS_BAD_REQUEST,
    WS_DRAINING,
    WS_SLOW_CONSUMER,
    WS_TOO_MANY,
    WS_UNAUTHORIZED,
)
from firebreak.limits import Limits
from firebreak.wire.commands import Ack, ReadCommand, SendCommand
from firebreak.wire.frames import FRAME_FIELDS, ClientFrame
from firebreak.wire.views import ReadResult, SendResult

PATH = "/asyncapi.json"
_REF = "#/components/schemas/{name}"
#: msgspec names a generic struct after its parameters; the document uses plain names.
_NAMES = {"Ack_SendResult_": "SendAck", "Ack_ReadResult_": "ReadAck", "Ack_NoneType_": "ErrorAck"}
#: An ack carries its command's ``ref``.
_BY_REF = {"location": "$message.payload#/ref"}

_FRAME_SUMMARIES = {
    "event": "One event of the user's rooms, with the position just past it.",
    "events": "Several events in order (a catch-up page or a burst), up to 100.",
    "ready": "Catch-up done: live from here. States the heartbeat interval in force.",
    "error": "Why the connection is refused or ends (then it closes), or a command without a ref.",
    "typing": "Someone's typing note in a room (ephemeral: not in the log, no cursor).",
    "presence": "Presence changes of users who share a small room with the user (ephemeral).",
    "heartbeat": "This DC is still here: sent every heartbeat interval, whatever else flows.",
}
assert _FRAME_SUMMARIES.keys() == FRAME_FIELDS.keys(), "every frame kind is described"


def _schemas() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [ClientFrame, SendCommand, ReadCommand, Ack[SendResult], Ack[ReadResult], Ack[None]],
        ref_template=_REF,
    )
    frame_name = next(name for name in components if name.startswith("Frame"))
    names = {**_NAMES, frame_name: "Frame"}
    text = msgspec.json.encode(components).decode()
    for old, new in names.items():
        text = text.replace(_REF.format(name=old), _REF.format(name=new))
    renamed: dict[str, Any] = msgspec.json.decode(text)
    schemas = {names.get(name, name): schema for name, schema in renamed.items()}
    for name, schema in schemas.items():
        if name in names.values():
            schema["title"] = name  # msgspec's title names the Python types
        _plain_discriminators(schema)
    return schemas


def _plain_discriminators(node: object) -> None:
    """msgspec writes OpenAPI's discriminator object (``propertyName``, ``mapping``); AsyncAPI's
    Schema Object takes the property's name alone."""
    if isinstance(node, dict):
        found = node.get("discriminator")
        if isinstance(found, dict):
            node["discriminator"] = found["propertyName"]
        for value in node.values():
            _plain_discriminators(value)
    elif isinstance(node, list):
        for item in node:
            _plain_discriminators(item)


def _frame_payload(kind: str, fields: tuple[str, ...]) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "allOf": [{"$ref": _REF.format(name="Frame")}],
        "properties": {"kind": {"const": kind}},
        "required": ["kind", *fields],
    }
    # The one Frame type allows either; each kind carries one.
    if kind == "event":
        payload["properties"]["data"] = {"$ref": _REF.format(name="ClientEvent")}
    elif kind == "events":
        payload["properties"]["data"] = {"type": "array", "items": {"$ref": _REF.format(name="ClientEvent")}}
    return payload


def _query(limits: Limits) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["token"],
        "properties": {
            "token": {"type": "string", "description": "An access token (POST /v1/sessions)."},
            "cursor": {
                "type": "string",
                "description": "Resume after this position (any frame's cursor, from any DC): the "
                "events after it come first, then ready. Malformed: close 4400 invalid_cursor.",
            },
            "heartbeat_s": {
                "type": "string",
                "pattern": "^[0-9]+$",
                "description": f"Heartbeat interval in whole seconds, kept within "
                f"{limits.ws_heartbeat_s:g}..{limits.ws_heartbeat_max_s:g} (default "
                f"{limits.ws_heartbeat_s:g}); ready states it. Not whole seconds: close 4400 "
                "invalid_heartbeat.",
            },
        },
    }


def _message(name: str, summary: str, schema: str) -> dict[str, Any]:
    return {
        "name": name,
        "summary": summary,
        "payload": {"$ref": _REF.format(name=schema)},
        "correlationId": _BY_REF,
    }


def _refs(messages: dict[str, Any]) -> list[dict[str, str]]:
    return [{"$ref": f"#/channels/live/messages/{name}"} for name in messages]


def asyncapi_document(limits: Limits, version: str) -> dict[str, Any]:
    """The description, with this DC's limits."""
    frames = {
        f"{kind}Frame": {
            "name": kind,
            "summary": _FRAME_SUMMARIES[kind],
            "payload": _frame_payload(kind, fields),
        }
        for kind, fields in FRAME_FIELDS.items()
    }
    commands = {
        "sendCommand": _message(
            "send",
            "Send one message, as POST /v1/rooms/{room_id}/messages (client_id: idempotency).",
            "SendCommand",
        ),
        "readCommand": _message(
            "read", "Mark read up to a room_seq, as POST /v1/rooms/{room_id}/read.", "ReadCommand"
        ),
    }
    acks = {
        "sendAck": _message(
            "ack", "A send's answer: status 201 (200: a duplicate) and the HTTP answer's body.", "SendAck"
        ),
        "readAck": _message("ack", "A read's answer: status 200 and the HTTP answer's body.", "ReadAck"),
        "errorAck": _message(
            "ack",
            "A refused command: the HTTP status, code and message it would get; or 409"
            " earlier_send_failed, a send behind one of its room's refused on this connection.",
            "ErrorAck",
        ),
    }
    channel = {"$ref": "#/channels/live"}
    return {
        "asyncapi": "3.0.0",
        "defaultContentType": "application/json",
        "info": {
            "title": "Firebreak live connection",
            "version": version,
            "description": "One WebSocket per device, at every DC: the events of the user's rooms "
            "from a cursor, then live, and commands pipelined on the same connection (up to "
            f"{limits.ws_commands_in_flight} unacknowledged, {limits.max_ws_frame_bytes} bytes "
            f"each). More than {limits.ws_queue_max} undelivered events: close "
            f"{WS_SLOW_CONSUMER}. docs/API.md says what a client does with each frame.",
        },
        "channels": {
            "live": {
                "address": "/v1/ws",
                "messages": {**frames, **commands, **acks},
                "bindings": {"ws": {"method": "GET", "query": _query(limits), "bindingVersion": "0.1.0"}},
            }
        },
        "operations": {
            "sendFrames": {
                "action": "send",
                "channel": channel,
                "summary": "What the gateway sends of its own: events, ready, errors, notes, heartbeats.",
                "messages": _refs(frames),
            },
            "receiveCommands": {
                "action": "receive",
                "channel": channel,
                "summary": "What the gateway takes, pipelined; each command is answered by one ack "
                "with its ref, on the same connection.",
                "messages": _refs(commands),
                "reply": {"channel": channel, "messages": _refs(acks)},
            },
        },
        "components": {"schemas": _schemas()},
        "x-close-codes": {
            str(WS_BAD_REQUEST): "a bad query (invalid_cursor, invalid_heartbeat)",
            str(WS_UNAUTHORIZED): "a bad, expired or revoked token; or the session logged out",
            str(WS_SLOW_CONSUMER): "too far behind: reconnect with the cursor",
            str(WS_TOO_MANY): "too many connections of this user at this DC",
            str(WS_DRAINING): "this DC drains, catches up or is cut off: reconnect elsewhere with the cursor",
            "1009": "a frame over twice max_ws_frame_bytes",
        },
    }


def install_asyncapi(app: FastAPI, limits: Limits) -> None:
    """Serves the description at ``/asyncapi.json``, made at the first request: every gateway
    process starts (and restarts after a fire) on a loaded machine, and few ask for it."""
    made: list[bytes] = []

    @app.get(PATH, include_in_schema=False)
    async def asyncapi() -> Response:
        if not made:
            made.append(msgspec.json.encode(asyncapi_document(limits, app.version)))
        return Response(made[0], media_type="application/json")
