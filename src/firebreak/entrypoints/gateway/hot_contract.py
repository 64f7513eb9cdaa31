"""What the hot lane (entrypoints/gateway/hot.py) shows the rest of the gateway: the single
send's OpenAPI operation, which FastAPI's document includes although FastAPI never sees the route,
and what the lane counts."""

from __future__ import annotations

from typing import Any, Protocol

from firebreak.entrypoints.gateway.boundary import errors


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


#: The OpenAPI operation of the single send, for FastAPI's document (it never sees the route).
SEND_OPERATION: dict[str, dict[str, Any]] = {
    "/v1/rooms/{room_id}/messages": {
        "post": {
            "summary": "Send",
            "description": "Sends once per (room, sender, client_id): 201 with the new message, or 200 "
            "with the first copy (duplicate: true) when this client_id was sent before.",
            "operationId": "send_v1_rooms__room_id__messages_post",
            "parameters": [
                {"name": "room_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "authorization", "in": "header", "required": True, "schema": {"type": "string"}},
            ],
            "requestBody": {"required": True, "content": _json("SendBody")},
            "responses": {
                "201": {"description": "sent", "content": _json("SendResult")},
                "200": {"description": "sent before (duplicate)", "content": _json("SendResult")},
                **{str(k): v for k, v in errors(400, 401, 404, 409, 413, 429, 500, 503).items()},
            },
        }
    }
}


class LaneMetrics(Protocol):
    """What the lane counts (adapters/metrics.py's GatewayMetrics): one call per request."""

    def sent(self, duplicate: bool, started: float) -> None: ...
    def send_failed(self, code: str) -> None: ...
    def ws_opened(self, session_id: str, resumed: bool) -> None: ...
    def session_ended(self, reason: str) -> None: ...
    def refused(self, code: str) -> None: ...


class Uncounted:
    """Counts nothing: a lane built without metrics (tests, tools)."""

    def sent(self, duplicate: bool, started: float) -> None:
        pass

    def send_failed(self, code: str) -> None:
        pass

    def ws_opened(self, session_id: str, resumed: bool) -> None:
        pass

    def session_ended(self, reason: str) -> None:
        pass

    def refused(self, code: str) -> None:
        pass
