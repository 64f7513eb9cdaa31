"""Input validation against a real cluster: each finding of the input audit, on both the FastAPI
path and the hot lane. Every refusal is a JSON 4xx with a stable code and changes nothing."""

from __future__ import annotations

import json
import secrets

import httpx

from firebreak.domain.validation import NAME_PATTERN
from firebreak.localcluster import LocalCluster
from tests.helpers import ClientFactory, code_of, raw, uname, user

#: A JSON string holding a lone surrogate: valid JSON syntax, but no UTF-8 text.
LONE = "\\ud800"


def body(**fields: str) -> bytes:
    """A JSON object whose string values are written verbatim (so ``LONE`` stays an escape)."""
    return ("{" + ",".join(f'"{k}":"{v}"' for k, v in fields.items()) + "}").encode()


async def send_raw(
    cluster: LocalCluster, method: str, path: str, content: bytes, token: str | None = None
) -> httpx.Response:
    """``content`` as a JSON body, byte for byte."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(base_url=cluster.config.dcs[0].http_url) as http:
        return await http.request(method, path, headers=headers, content=content)


async def test_trailing_newline_in_username_and_ids(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    name = uname("nl")
    resp = await raw(
        cluster,
        "POST",
        "/v1/accounts",
        json={"username": name + "\n", "password": "x" * 10, "request_id": "r"},
    )
    assert code_of(resp) == (400, "invalid_username")
    resp = await raw(
        cluster, "POST", "/v1/accounts", json={"username": name, "password": "x" * 10, "request_id": "r\n"}
    )
    assert code_of(resp) == (400, "invalid_request_id")
    alice, bob = await user(make_client, 0), await user(make_client, 0)
    assert bob.user and alice.token
    room = await alice.open_direct(bob.user.username)
    path = f"/v1/rooms/{room.room_id}/messages"
    first = await raw(cluster, "POST", path, token=alice.token, json={"client_id": "nl-dup", "text": "a"})
    assert first.status_code == 201
    again = await raw(cluster, "POST", path, token=alice.token, json={"client_id": "nl-dup\n", "text": "b"})
    assert code_of(again) == (400, "invalid_client_id")
    batch = await raw(
        cluster,
        "POST",
        path + "/batch",
        token=alice.token,
        json={"messages": [{"client_id": "nl-b\n", "text": "b"}]},
    )
    assert code_of(batch) == (400, "invalid_client_id")
    group = await raw(
        cluster,
        "POST",
        "/v1/rooms",
        token=alice.token,
        json={"name": "g", "members": [], "request_id": "g\n"},
    )
    assert code_of(group) == (400, "invalid_request_id")
    assert [m.text for m in (await alice.history(room.room_id)).messages] == ["a"]


async def test_lone_surrogates_are_refused(cluster: LocalCluster, make_client: ClientFactory) -> None:
    name = uname("sur")
    for fields in (
        {"username": name, "password": "long enough" + LONE, "request_id": "r1"},
        {"username": name, "password": "long enough", "display_name": "a" + LONE, "request_id": "r1"},
        {"username": name + LONE, "password": "long enough", "request_id": "r1"},
    ):
        resp = await send_raw(cluster, "POST", "/v1/accounts", body(**fields))
        assert resp.status_code == 400 and code_of(resp)[1] in ("invalid_unicode", "invalid_username")
    resp = await send_raw(cluster, "POST", "/v1/sessions", body(username=name, password="pw" + LONE * 8))
    assert code_of(resp) == (400, "invalid_unicode")
    alice, bob = await user(make_client, 0), await user(make_client, 0)
    assert alice.token and bob.user
    resp = await send_raw(cluster, "PATCH", "/v1/me", body(display_name="x" + LONE), alice.token)
    assert code_of(resp) == (400, "invalid_unicode")
    resp = await send_raw(
        cluster,
        "POST",
        "/v1/rooms",
        b'{"name":"g' + LONE.encode() + b'","members":[],"request_id":"g1"}',
        alice.token,
    )
    assert code_of(resp) == (400, "invalid_unicode")
    group = await alice.create_group("fine", [bob.user.username])
    resp = await send_raw(cluster, "PATCH", f"/v1/rooms/{group.room_id}", body(name=LONE), alice.token)
    assert code_of(resp) == (400, "invalid_unicode")
    path = f"/v1/rooms/{group.room_id}/messages"
    resp = await send_raw(cluster, "POST", path, body(client_id="s1", text="hi" + LONE), alice.token)
    assert code_of(resp) == (400, "invalid_unicode"), "the hot lane decodes sends itself"
    batch = b'{"messages":[{"client_id":"s2","text":"' + LONE.encode() + b'"}]}'
    resp = await send_raw(cluster, "POST", path + "/batch", batch, alice.token)
    assert code_of(resp) == (400, "invalid_unicode")
    resp = await send_raw(cluster, "POST", "/v1/rooms/direct", body(username="ab" + LONE), alice.token)
    assert code_of(resp) == (400, "invalid_username")
    assert (await alice.me()).display_name == (alice.user.display_name if alice.user else "")
    assert (await alice.history(group.room_id)).messages == []


async def test_history_bounds(cluster: LocalCluster, make_client: ClientFactory) -> None:
    alice, bob = await user(make_client, 0), await user(make_client, 0)
    assert alice.token and bob.user
    room = await alice.open_direct(bob.user.username)
    path = f"/v1/rooms/{room.room_id}/messages"
    for query, code in (
        ("after=9223372036854775808", "invalid_position"),
        ("before=9223372036854775808", "invalid_position"),
        ("after=-1", "invalid_position"),
        ("before=0", "invalid_position"),
        ("limit=99999999999999999999999", "invalid_limit"),
        ("after=abc", "malformed_request"),
    ):
        assert code_of(await raw(cluster, "GET", f"{path}?{query}", token=alice.token)) == (400, code), query
    read = await raw(
        cluster, "POST", f"/v1/rooms/{room.room_id}/read", token=alice.token, json={"up_to": 2**64}
    )
    assert code_of(read) == (400, "invalid_position")
    assert (await raw(cluster, "GET", f"{path}?after=0&limit=200", token=alice.token)).status_code == 200


async def test_display_names_and_visible_text(cluster: LocalCluster, make_client: ClientFactory) -> None:
    alice, bob = await user(make_client, 0), await user(make_client, 0)
    assert alice.token and bob.user and alice.user
    for bad in ("nul\x00name", "evil\u202etxt.exe", "\u2066x\u2069", "\u200b\u200b", "\u3164", " \u200d "):
        resp = await raw(cluster, "PATCH", "/v1/me", token=alice.token, json={"display_name": bad})
        assert code_of(resp) == (400, "invalid_display_name"), repr(bad)
    # Impersonation: another user's username is not a display name (docs/DECISIONS.md).
    for copy in (bob.user.username, bob.user.username.upper(), "@" + bob.user.username):
        resp = await raw(cluster, "PATCH", "/v1/me", token=alice.token, json={"display_name": copy})
        assert code_of(resp) == (409, "display_name_taken"), copy
    resp = await raw(
        cluster,
        "POST",
        "/v1/accounts",
        json={
            "username": uname("imp"),
            "password": "x" * 10,
            "display_name": bob.user.username,
            "request_id": "i",
        },
    )
    assert code_of(resp) == (409, "display_name_taken")
    own = await raw(cluster, "PATCH", "/v1/me", token=alice.token, json={"display_name": alice.user.username})
    assert own.status_code == 200, "one's own username is fine"
    assert (await alice.me()).display_name == alice.user.username

    room = await alice.open_direct(bob.user.username)
    path = f"/v1/rooms/{room.room_id}/messages"
    for text in ("\u200b\u200b\u200b", "\u200d", " \n\t ", "\ufeff", "\u3164"):
        resp = await raw(cluster, "POST", path, token=alice.token, json={"client_id": "zw", "text": text})
        assert code_of(resp) == (400, "empty_message"), repr(text)
        resp = await raw(
            cluster,
            "POST",
            path + "/batch",
            token=alice.token,
            json={"messages": [{"client_id": "zw", "text": text}]},
        )
        assert code_of(resp) == (400, "empty_message"), repr(text)
    ok = await raw(
        cluster,
        "POST",
        path,
        token=alice.token,
        json={"client_id": "rtl", "text": "\u05e9\u05dc\u05d5\u05dd \u200f!"},
    )
    assert ok.status_code == 201, "right-to-left text and marks are fine in messages"


async def test_request_id_reused_with_another_body(cluster: LocalCluster, make_client: ClientFactory) -> None:
    name = uname("rid")
    reg = {"username": name, "password": "first password", "request_id": "reg-1"}
    assert (await raw(cluster, "POST", "/v1/accounts", json=reg)).status_code == 201
    assert (await raw(cluster, "POST", "/v1/accounts", json=reg)).status_code == 201, "a plain retry"
    other = await raw(cluster, "POST", "/v1/accounts", json={**reg, "password": "other password"})
    assert code_of(other) == (409, "request_id_reused")

    alice, bob = await user(make_client, 0), await user(make_client, 0)
    assert alice.token and bob.user
    rid = "grp-" + secrets.token_hex(4)
    group = {"name": "first", "members": [bob.user.username], "request_id": rid}
    created = await raw(cluster, "POST", "/v1/rooms", token=alice.token, json=group)
    assert created.status_code == 201
    retry = await raw(cluster, "POST", "/v1/rooms", token=alice.token, json=group)
    assert retry.status_code == 201 and retry.json()["room_id"] == created.json()["room_id"]
    changed = await raw(cluster, "POST", "/v1/rooms", token=alice.token, json={**group, "name": "second"})
    assert code_of(changed) == (409, "request_id_reused")
    changed = await raw(cluster, "POST", "/v1/rooms", token=alice.token, json={**group, "members": []})
    assert code_of(changed) == (409, "request_id_reused")

    room_path = f"/v1/rooms/{created.json()['room_id']}"
    renamed = await raw(
        cluster, "PATCH", room_path, token=alice.token, json={"name": "r1", "request_id": "ren"}
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "r1"
    again = await raw(
        cluster, "PATCH", room_path, token=alice.token, json={"name": "r1", "request_id": "ren"}
    )
    assert again.status_code == 200
    reused = await raw(
        cluster, "PATCH", room_path, token=alice.token, json={"name": "r2", "request_id": "ren"}
    )
    assert code_of(reused) == (409, "request_id_reused")
    assert (await alice.room(created.json()["room_id"])).room.name == "r1"

    # The same request id for another room is another request, not a duplicate of the first.
    second = await alice.create_group("second", [bob.user.username])
    renamed = await raw(
        cluster,
        "PATCH",
        f"/v1/rooms/{second.room_id}",
        token=alice.token,
        json={"name": "o1", "request_id": "ren"},
    )
    assert renamed.status_code == 200 and (await alice.room(second.room_id)).room.name == "o1"


async def test_method_not_allowed_names_the_allowed_ones(cluster: LocalCluster) -> None:
    resp = await raw(cluster, "PUT", "/v1/me")
    assert code_of(resp) == (405, "method_not_allowed")
    assert set(resp.headers["allow"].replace(" ", "").split(",")) == {"GET", "PATCH"}
    resp = await raw(cluster, "PUT", "/v1/rooms/d_x/messages")
    assert set(resp.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}, (
        "the hot lane's send is allowed too"
    )


async def test_openapi_documents_every_answer(cluster: LocalCluster) -> None:
    async with httpx.AsyncClient(base_url=cluster.config.dcs[0].http_url) as http:
        doc = (await http.get("/openapi.json")).json()
    assert "422" not in json.dumps(doc["paths"]), "the API never answers 422"
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            statuses = set(op["responses"])
            assert "default" not in statuses, (method, path)
            if path.startswith("/v1/"):
                assert {"400", "503"} <= statuses, (method, path, statuses)
                err = op["responses"]["400"]["content"]["application/json"]["schema"]
                assert err == {"$ref": "#/components/schemas/Error"}
            if "requestBody" in op:
                assert "413" in statuses, (method, path)
    send = doc["paths"]["/v1/rooms/{room_id}/messages"]["post"]["responses"]
    assert {"201", "200", "400", "401", "404", "409", "413", "429", "503"} <= set(send)
    # a room that is not yours is answered like one that does not exist: 404, never 403 (a member
    # may be told 403 about one message: another's, or past the window to change it)
    for path, operations in doc["paths"].items():
        if path.startswith("/v1/rooms/{room_id}") and "/messages/{room_seq}" not in path:
            for method, op in operations.items():
                assert "403" not in op["responses"], (method, path)
    schemas = doc["components"]["schemas"]
    username = schemas["RegisterBody"]["properties"]["username"]
    assert username["pattern"] == "^[a-z0-9_]{3,32}$"
    assert schemas["SendBody"]["properties"]["text"]["maxLength"] == 4000
    assert schemas["SendBody"]["properties"]["client_id"]["maxLength"] == 64
    history = {p["name"]: p for p in doc["paths"]["/v1/rooms/{room_id}/messages"]["get"]["parameters"]}
    assert history["limit"]["schema"]["maximum"] == 200
    assert history["after"]["schema"]["minimum"] == 0
    assert schemas["Error"]["required"] == ["error"]
    assert schemas["ProfileBody"]["properties"]["display_name"]["pattern"] == NAME_PATTERN
