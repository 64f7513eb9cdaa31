"""One wire schema: each request body is defined once, as a msgspec struct (wire/requests.py). The
client builds it, FastAPI's routes decode it through boundary.json_body (with the same refusals as
the plain-ASGI lanes) and the OpenAPI document's request schema is generated from it, with the
domain's rules added (schema.py)."""

from __future__ import annotations

import ast
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import msgspec
import pytest
from fastapi import FastAPI
from fastapi.responses import Response

from firebreak.entrypoints.gateway import boundary
from firebreak.limits import Limits
from firebreak.wire.requests import ALL_BODIES, BatchBody, ReadBody, SendBody

SRC = Path(__file__).resolve().parent.parent / "src" / "firebreak"
LIMITS = Limits(max_message_chars=123, max_batch_messages=7)


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    boundary.install(app, LIMITS)

    @app.post("/send")
    async def send(body: Annotated[SendBody, boundary.json_body(SendBody)]) -> Response:
        # Python's json, which writes a lone surrogate as an escape (msgspec refuses to).
        return Response(json.dumps(msgspec.structs.asdict(body)), media_type="application/json")

    @app.post("/batch")
    async def batch(body: Annotated[BatchBody, boundary.json_body(BatchBody)]) -> Response:
        return Response(msgspec.json.encode(body), media_type="application/json")

    @app.post("/read")
    async def read(body: Annotated[ReadBody, boundary.json_body(ReadBody)]) -> Response:
        return Response(msgspec.json.encode(body), media_type="application/json")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        yield http


def _error(resp: httpx.Response) -> tuple[int, str, str]:
    error = resp.json()["error"]
    return resp.status_code, error["code"], error["message"]


async def test_a_route_gets_the_wire_struct(client: httpx.AsyncClient) -> None:
    resp = await client.post("/batch", content=b'{"messages":[{"client_id":"c1","text":"hi"}]}')
    assert resp.status_code == 200
    assert msgspec.json.decode(resp.content, type=BatchBody) == BatchBody([SendBody("c1", "hi")])


@pytest.mark.parametrize(
    ("path", "body", "code", "where"),
    [
        ("/send", b'{"client_id":"c1","text":"hi","extra":1}', "malformed_request", "extra"),
        ("/send", b'{"client_id":"c1"}', "malformed_request", "text"),
        ("/send", b'{"client_id":"c1","text":5}', "malformed_request", "$.text"),
        (
            "/batch",
            b'{"messages":[{"client_id":"c1","text":true}]}',
            "malformed_request",
            "$.messages[0].text",
        ),
        ("/send", b'{"client_id":"c1",', "malformed_request", "not valid JSON"),
        ("/send", b"", "malformed_request", "not valid JSON"),
        ("/send", b"[]", "malformed_request", "object"),
        # An int is a JSON integer, as in the plain-ASGI lanes: no boolean, no string.
        ("/read", b'{"up_to":true}', "malformed_request", "up_to"),
        ("/read", b'{"up_to":"5"}', "malformed_request", "up_to"),
    ],
)
async def test_a_refused_body_is_a_400_that_says_where(
    client: httpx.AsyncClient, path: str, body: bytes, code: str, where: str
) -> None:
    status, got, message = _error(await client.post(path, content=body))
    assert (status, got) == (400, code), message
    assert where in message


async def test_a_lone_surrogate_reaches_the_rules_of_its_field(client: httpx.AsyncClient) -> None:
    """As pydantic's decoding did: the domain's rule for the field answers it (here no rule, so
    the text arrives as sent); the hot lane, which never had pydantic, answers invalid_unicode."""
    resp = await client.post("/send", content=b'{"client_id":"c1","text":"a\\ud800"}')
    assert resp.status_code == 200
    assert resp.json() == {"client_id": "c1", "text": "a\ud800", "attachments": None}
    status, code, _ = _error(await client.post("/send", content=b'{"client_id":"c1","text":"\\ud800","x":1}'))
    assert (status, code) == (400, "malformed_request")


async def test_the_document_takes_each_body_from_its_struct(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    for path, name in (("/send", "SendBody"), ("/batch", "BatchBody"), ("/read", "ReadBody")):
        body = doc["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{name}"}
    schemas = doc["components"]["schemas"]
    _, expected = msgspec.json.schema_components(ALL_BODIES, ref_template="#/components/schemas/{name}")
    for struct in ALL_BODIES:
        mine = schemas[struct.__name__]
        assert mine["additionalProperties"] is False
        assert set(mine["properties"]) == set(expected[struct.__name__]["properties"])
        assert mine.get("required", []) == expected[struct.__name__].get("required", [])
    send = schemas["SendBody"]["properties"]
    assert "never creates a second message" in send["client_id"]["description"]
    # The domain's rules and the configured limits, documented on the same schema.
    assert send["text"]["maxLength"] == LIMITS.max_message_chars
    assert schemas["BatchBody"]["properties"]["messages"]["maxItems"] == LIMITS.max_batch_messages
    assert "pattern" in send["client_id"]
    assert "422" not in doc["paths"]["/send"]["post"]["responses"]
    assert {"400", "413"} <= set(doc["paths"]["/send"]["post"]["responses"])


def test_no_second_definition_of_a_body() -> None:
    """pydantic models are how a twin would come back: the gateway has none."""
    users = [
        path.relative_to(SRC).as_posix()
        for path in sorted(SRC.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pydantic"
    ]
    assert not users
