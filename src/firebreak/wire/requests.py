"""Request bodies that the gateway decodes with msgspec and the client builds: one definition for
both ends. (FastAPI's routes validate their bodies with the pydantic models of
entrypoints/gateway/boundary.py, which document them in the OpenAPI document; tests/test_hot_lane.py
keeps the fields of the send body equal in both.)"""

from __future__ import annotations

import msgspec


class SendBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One message: a client-chosen id (sending it again never creates a second message) and text."""

    client_id: str
    text: str


class BatchBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """1-100 messages, sent in this order or not at all."""

    messages: list[SendBody]
