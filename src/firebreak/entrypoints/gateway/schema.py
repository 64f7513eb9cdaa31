"""The OpenAPI document's rules and answers, from the one place each rule lives.

The request schemas are msgspec's, of the wire structs (boundary.py), with types only, and
FastAPI adds a 422 answer the API never gives (boundary.py answers every validation failure with
400). This module rewrites the document: request schemas get the patterns, lengths and bounds of
domain/validation.py and the configured :class:`~firebreak.config.Limits` (enforced there, in
the domain, with stable codes; documented here), and every operation lists each error status it
can answer, with the error body.
"""

from __future__ import annotations

from typing import Any

from firebreak.domain.files import FILE_ID_PATTERN, FILE_NAME_MAX, UPLOAD_ID_PATTERN
from firebreak.domain.ids import ROOM_ID_PATTERN, SESSION_ID_PATTERN
from firebreak.domain.reactions import REACTIONS
from firebreak.domain.validation import (
    CLIENT_ID_MAX,
    CLIENT_ID_PATTERN,
    MAX_POSITION,
    NAME_PATTERN,
    PASSWORD_MAX,
    PASSWORD_MIN,
    USERNAME_MAX,
    USERNAME_MIN,
    USERNAME_PATTERN,
)
from firebreak.limits import Limits

ERROR_REF = {"$ref": "#/components/schemas/Error"}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

#: What each error status means here; docs/API.md lists the codes.
STATUS_TEXT = {
    400: "Bad input: malformed body or parameter, or a rule of docs/LIMITS.md broken",
    401: "No valid token (or wrong credentials)",
    403: "Not allowed: an ops endpoint without the ops token, a change to another user's message, "
    "or an edit or delete after its window (docs/LIMITS.md)",
    404: "No such user, or no such room or file among yours (one answer for both: a room or file "
    "that is not yours looks like none)",
    409: "Conflict: taken, an id reused with another body, or a change to a deleted message",
    413: "Body, message, group or file too large",
    416: "The byte range asked for starts past the file's end (Content-Range names its size)",
    429: "Rate limited (docs/LIMITS.md): retry after the seconds in the Retry-After header",
    500: "A bug (code internal_error); nothing was changed by the request itself",
    503: "This DC cannot serve now (draining, catching up) or the log has no quorum: retry, "
    "or use another DC",
}


def error_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses, each with the error body."""
    return {
        status: {"description": STATUS_TEXT[status], "content": {"application/json": {"schema": ERROR_REF}}}
        for status in statuses
    }


def _body_rules(limits: Limits) -> dict[str, dict[str, dict[str, Any]]]:
    """{schema: {property: JSON Schema keywords}} for the request bodies."""
    username = {"pattern": USERNAME_PATTERN, "minLength": USERNAME_MIN, "maxLength": USERNAME_MAX}
    client_id = {"pattern": CLIENT_ID_PATTERN, "minLength": 1, "maxLength": CLIENT_ID_MAX}
    password = {"minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX}
    # Names must also show something visible, which no pattern says: 400 when they do not.
    display_name = {"pattern": NAME_PATTERN, "minLength": 1, "maxLength": limits.max_display_name_chars}
    room_name = {"pattern": NAME_PATTERN, "minLength": 1, "maxLength": limits.max_room_name_chars}
    members = {"items": username}
    return {
        "RegisterBody": {
            "username": username,
            "password": password,
            "display_name": display_name,
            "request_id": client_id,
        },
        "LoginBody": {"username": username, "password": password},
        "ProfileBody": {"display_name": display_name},
        "PasswordBody": {"current_password": password, "new_password": password, "request_id": client_id},
        "DirectBody": {"username": username},
        "GroupBody": {"name": room_name, "members": members, "request_id": client_id},
        "InviteBody": {"members": members, "request_id": client_id},
        "RenameBody": {"name": room_name, "request_id": client_id},
        "LeaveBody": {"request_id": client_id},
        "SendBody": {"client_id": client_id, "text": {"minLength": 1, "maxLength": limits.max_message_chars}},
        "BatchBody": {"messages": {"minItems": 1, "maxItems": limits.max_batch_messages}},
        "EditBody": {"client_id": client_id, "text": {"minLength": 1, "maxLength": limits.max_message_chars}},
        "ReactBody": {"emoji": {"enum": list(REACTIONS)}, "request_id": client_id},
        "ReadBody": {"up_to": {"minimum": 1, "maximum": MAX_POSITION}},
        "TransferBody": {
            "client_id": client_id,
            "to": username,
            "amount": {"minimum": 1, "maximum": limits.max_transfer_amount},
        },
        "FaucetBody": {
            "username": username,
            "amount": {"minimum": 1, "maximum": limits.max_credit_amount},
            "request_id": client_id,
        },
        "UploadBody": {
            "client_id": client_id,
            "room_id": {"pattern": ROOM_ID_PATTERN},
            "name": {"pattern": NAME_PATTERN, "minLength": 1, "maxLength": FILE_NAME_MAX},
            "size": {"minimum": 1, "maximum": limits.max_file_bytes},
            "sha256": {"pattern": "^[0-9a-f]{64}$"},
        },
    }


def _param_rules(limits: Limits) -> dict[str, dict[str, Any]]:
    """JSON Schema keywords for parameters, by name (the same name means the same thing)."""
    return {
        "room_id": {"pattern": ROOM_ID_PATTERN},
        "session_id": {"pattern": SESSION_ID_PATTERN},
        "request_id": {"pattern": CLIENT_ID_PATTERN, "minLength": 1, "maxLength": CLIENT_ID_MAX},
        "before": {"minimum": 1, "maximum": MAX_POSITION},
        "room_seq": {"minimum": 1, "maximum": MAX_POSITION},
        "after": {"minimum": 0, "maximum": MAX_POSITION},
        "limit": {"minimum": 1, "maximum": limits.history_page_max},
        "at_least": {"minimum": 0, "maximum": MAX_POSITION},
        "upload_id": {"pattern": UPLOAD_ID_PATTERN},
        "file_id": {"pattern": FILE_ID_PATTERN},
        "index": {"minimum": 0, "maximum": limits.max_file_bytes // limits.upload_chunk_bytes},
    }


def _path_param_rules(limits: Limits) -> dict[str, dict[str, dict[str, Any]]]:
    """Parameters whose rules differ on one path: {path: {name: JSON Schema keywords}}."""
    return {
        "/v1/search": {
            "q": {"minLength": 1, "maxLength": limits.search_query_max_chars},
            "limit": {"minimum": 1, "maximum": limits.search_page_max},
            "cursor": {"pattern": "^s1-[0-9]{1,9}$"},
            "order": {"enum": ["newest", "relevance"]},
        }
    }


def _constrain(schema: dict[str, Any], rules: dict[str, Any]) -> None:
    """Adds ``rules`` to ``schema``, or to its non-null branch when it is optional (anyOf)."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "null":
            continue
        for key, value in rules.items():
            if key == "items":
                branch.setdefault("items", {}).update(value)
            else:
                branch[key] = value


def _not_null(schema: dict[str, Any]) -> None:
    """Folds FastAPI's ``anyOf: [X, null]`` for an optional parameter into X."""
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1 and len(schema["anyOf"]) == 2:
        del schema["anyOf"]
        schema.update(branches[0])


def _statuses(path: str, op: dict[str, Any]) -> set[int]:
    """The error statuses every operation of this shape can answer, besides its own ones."""
    out = {500}
    params = op.get("parameters", [])
    if params or "requestBody" in op:
        out.add(400)  # malformed body or parameter
    if "requestBody" in op:
        out.add(413)  # body over max_body_bytes
    if any(p["in"] == "header" and p["name"].lower() == "authorization" for p in params):
        out.add(401)
    if path.startswith("/v1/"):
        out.add(503)  # the Gatekeeper refuses every API call while the DC drains or catches up
    return out


def rewrite(schema: dict[str, Any], limits: Limits) -> None:
    """Applies the rules and the error answers to a generated OpenAPI document, in place."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components["Error"] = ERROR_SCHEMA
    for name, properties in _body_rules(limits).items():
        for prop, rules in properties.items():
            if name in components:
                _constrain(components[name]["properties"][prop], rules)
    by_path = _path_param_rules(limits)
    for path, operations in schema.get("paths", {}).items():
        params = _param_rules(limits) | by_path.get(path, {})
        for op in operations.values():
            for param in op.get("parameters", []):
                _not_null(param["schema"])  # an absent parameter is None; "null" is not a value
                if param["name"] in params:
                    _constrain(param["schema"], params[param["name"]])
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            responses.pop("default", None)
            for status, entry in error_docs(*_statuses(path, op)).items():
                responses.setdefault(str(status), entry)
