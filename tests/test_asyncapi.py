"""The AsyncAPI description of the live WebSocket (entrypoints/gateway/asyncapi.py): the document is
valid against the official AsyncAPI 3.0.0 schema, every frame the gateway builds and every command
and ack is valid against the message the document gives for it (and a frame of another shape is
not), every reference resolves, and a real DC serves the document and sends frames that match it."""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import msgspec
import pytest
from websockets.asyncio.client import connect

from firebreak.domain.events import MessageSent
from firebreak.domain.model import ClientEvent
from firebreak.entrypoints.gateway.asyncapi import PATH, asyncapi_document
from firebreak.limits import Limits
from firebreak.localcluster import LocalCluster
from firebreak.wire import frames as wire_frames
from firebreak.wire.commands import ReadCommand, SendCommand, encode_command, error_ack, ok_ack
from firebreak.wire.frames import (
    FRAME_FIELDS,
    HEARTBEAT_FRAME,
    error_frame,
    events_frame,
    presence_frame,
    ready_frame,
    typing_frame,
)
from firebreak.wire.presence_views import PresenceView, TypingView
from firebreak.wire.views import MessageView, ReadResult, SendResult
from tests.helpers import ClientFactory, user

DOC = asyncapi_document(Limits(), "1")
MESSAGES: dict[str, Any] = DOC["channels"]["live"]["messages"]
#: The official document schema (tests/schemas/README.md says where it comes from).
OFFICIAL = Path(__file__).parent / "schemas" / "asyncapi-3.0.0.json"


@functools.cache
def _official() -> Any:
    return jsonschema_rs.validator_for(json.loads(OFFICIAL.read_text()))


def _official_errors(document: dict[str, Any]) -> list[str]:
    validator = _official()
    errors = validator.iter_errors(document)
    return [f"{'/'.join(map(str, error.instance_path))}: {error.message}" for error in errors]


def test_the_document_is_valid_against_the_official_asyncapi_3_0_schema() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    assert _official_errors(DOC) == []


def _break_operation(document: dict[str, Any]) -> None:
    next(iter(document["operations"].values()))["action"] = "push"


def _break_payload(document: dict[str, Any]) -> None:
    document["components"]["schemas"]["Frame"]["required"] = "kind"


def _break_channel(document: dict[str, Any]) -> None:
    document["channels"]["live"]["address"] = 7


@pytest.mark.parametrize("damage", [_break_operation, _break_payload, _break_channel])
def test_the_official_schema_refuses_a_damaged_document(damage: Any) -> None:
    """The check above can fail: the same document with one part of each kind made invalid."""
    damaged = copy.deepcopy(DOC)
    damage(damaged)
    assert _official_errors(damaged), damage.__name__


def _valid(message: str, frame: bytes | str) -> bool:
    schema = {"components": DOC["components"], **MESSAGES[message]["payload"]}
    return bool(jsonschema_rs.validator_for(schema).is_valid(json.loads(frame)))


def _event(seq: int) -> bytes:
    sent = MessageSent(v=1, at=1_795_000_000_000, room_id="g_1", sender="u_1", client_id=f"c{seq}", text="hi")
    return msgspec.json.encode(ClientEvent(p=0, seq=seq, room_seq=seq, event=sent, unread=1))


def _view() -> MessageView:
    return MessageView("g_1", 1, "u_1", "c1", "hi", 1_795_000_000_000, 1, 0, 1)


BUILT: list[tuple[str, bytes | str]] = [
    ("eventFrame", events_frame("c1-1-0-0", [_event(1)])),
    ("eventsFrame", events_frame("c1-2-0-0", [_event(1), _event(2)])),
    ("readyFrame", ready_frame("c1-2-0-0", 60.0)),
    ("readyFrame", ready_frame("c1-2-0-0")),
    ("errorFrame", error_frame("invalid_heartbeat", "heartbeat_s must be ...")),
    ("typingFrame", typing_frame(TypingView("g_1", "u_1", True, 1_795_000_005_000, 5000))),
    ("presenceFrame", presence_frame([PresenceView("u_1", False, 1_795_000_000_000)])),
    ("heartbeatFrame", HEARTBEAT_FRAME),
    ("sendCommand", encode_command(SendCommand(ref="r1", room_id="g_1", client_id="c1", text="hi"))),
    ("readCommand", encode_command(ReadCommand(ref="r2", room_id="g_1", up_to=2))),
    ("sendAck", ok_ack("r1", 201, SendResult(_view(), duplicate=False), "http://127.0.0.1:8001")),
    ("readAck", ok_ack("r2", 200, ReadResult(room_id="g_1", read_room_seq=2))),
    ("errorAck", error_ack("r1", 429, "rate_limited", "slow down", 1)),
]


@pytest.mark.parametrize(("message", "frame"), BUILT)
def test_what_both_ends_build_is_valid_against_its_message(message: str, frame: bytes | str) -> None:
    assert _valid(message, frame), frame


@pytest.mark.parametrize(
    ("message", "frame"),
    [
        ("eventFrame", events_frame("c1-2-0-0", [_event(1), _event(2)])),  # several: an events frame
        ("eventsFrame", events_frame("c1-1-0-0", [_event(1)])),
        ("readyFrame", HEARTBEAT_FRAME),
        ("readyFrame", b'{"kind":"ready"}'),  # no cursor
        ("errorFrame", b'{"kind":"error","code":"x"}'),  # no message
        ("sendCommand", b'{"kind":"send","ref":"r1","room_id":"g_1","text":"hi"}'),  # no client_id
        ("sendAck", b'{"kind":"ack","ref":"r1","status":"201"}'),
    ],
)
def test_a_frame_of_another_shape_is_not(message: str, frame: bytes | str) -> None:
    assert not _valid(message, frame), frame


def test_every_frame_kind_and_command_has_a_message_and_every_operation_names_them() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    assert {m["name"] for m in MESSAGES.values()} == {*FRAME_FIELDS, "ack", "send", "read"}
    ops = DOC["operations"].values()
    named = [ref["$ref"] for op in ops for ref in op["messages"] + op.get("reply", {}).get("messages", [])]
    assert sorted(named) == sorted(f"#/channels/live/messages/{name}" for name in MESSAGES)
    assert {op["action"] for op in ops} == {"send", "receive"}


def test_every_frame_builder_is_checked_here() -> None:
    """A frame builder added to wire/frames.py without a case in BUILT fails here, and so does a
    kind the builders make that FRAME_FIELDS (so the document) lacks."""
    builders = {name for name in dir(wire_frames) if name.endswith("_frame") or name.endswith("_FRAME")}
    assert builders == {
        "events_frame",
        "ready_frame",
        "error_frame",
        "typing_frame",
        "presence_frame",
        "HEARTBEAT_FRAME",
    }
    kinds = {json.loads(frame)["kind"] for message, frame in BUILT if message.endswith("Frame")}
    assert kinds == FRAME_FIELDS.keys()


def test_schemas_use_asyncapis_discriminator_form() -> None:
    """AsyncAPI's Schema Object takes a property name, not OpenAPI's object, which msgspec writes."""
    forms = {type(node["discriminator"]) for node in _nodes(DOC) if "discriminator" in node}
    assert forms == {str}


def _nodes(node: object) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _nodes(item)


def test_every_reference_resolves() -> None:
    for ref in {node["$ref"] for node in _nodes(DOC) if isinstance(node.get("$ref"), str)}:
        assert ref.startswith("#/"), ref
        node: Any = DOC
        for part in ref[2:].split("/"):
            assert part in node, f"{ref} does not resolve"
            node = node[part]


async def test_a_dc_serves_it_and_its_frames_match(cluster: LocalCluster, make_client: ClientFactory) -> None:
    dc = cluster.config.dcs[2]
    async with httpx.AsyncClient(base_url=dc.http_url) as http:
        served = (await http.get(PATH)).json()
        described = (await http.get("/openapi.json")).json()["info"]["description"]
    assert served == json.loads(msgspec.json.encode(asyncapi_document(cluster.config.limits, "1")))
    assert PATH in described, "the OpenAPI document points to it"
    alice, bob = await user(make_client, 2), await user(make_client, 2)
    assert bob.user and alice.token
    room = await alice.open_direct(bob.user.username)
    query = urllib.parse.urlencode({"token": alice.token, "heartbeat_s": "30"})
    async with connect(f"{dc.ws_url}?{query}") as ws:
        ready = await ws.recv()
        assert _valid("readyFrame", ready) and json.loads(ready)["heartbeat_s"] == 30
        command = {"kind": "send", "ref": "r1", "room_id": room.room_id, "client_id": "a1", "text": "hi"}
        await ws.send(json.dumps(command))
        kinds: dict[str, str | bytes] = {}
        async with asyncio.timeout(20):
            while not {"ack", "event"} <= kinds.keys():  # in either order, maybe with others
                frame = await ws.recv()
                kinds[json.loads(frame)["kind"]] = frame
    for kind, frame in kinds.items():
        assert _valid("sendAck" if kind == "ack" else f"{kind}Frame", frame), frame
