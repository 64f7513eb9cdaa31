"""One wire schema: each request body the client builds (wire/requests.py) is the body FastAPI
validates and documents (the pydantic model of the same name in entrypoints/gateway/boundary.py),
field for field, with the same types, the same required fields and no unknown fields allowed."""

from __future__ import annotations

import typing

import msgspec
import pytest
from pydantic import BaseModel

from firebreak.entrypoints.gateway import boundary
from firebreak.wire import requests


def _shape(hint: object) -> str:
    """A type as text, with both ends' nested models named alike (SendBody is SendBody)."""
    return (
        str(hint)
        .replace("firebreak.wire.requests.", "")
        .replace("firebreak.entrypoints.gateway.boundary.", "")
    )


@pytest.mark.parametrize("body", requests.ALL_BODIES, ids=lambda b: b.__name__)
def test_each_body_is_the_documented_one(body: type[msgspec.Struct]) -> None:
    documented = getattr(boundary, body.__name__)
    assert issubclass(documented, BaseModel)
    assert documented.model_config.get("extra") == "forbid"
    mine = typing.get_type_hints(body)
    theirs = typing.get_type_hints(documented)
    theirs = {name: theirs[name] for name in documented.model_fields}
    assert {n: _shape(t) for n, t in mine.items()} == {n: _shape(t) for n, t in theirs.items()}
    required = {n for n, f in documented.model_fields.items() if f.is_required()}
    info = msgspec.inspect.type_info(body)
    assert isinstance(info, msgspec.inspect.StructType)
    assert {f.name for f in info.fields if f.required} == required


def test_every_documented_body_has_its_wire_twin() -> None:
    documented = {
        name
        for name, value in vars(boundary).items()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and name.endswith("Body")
        and not name.startswith("_")
    }
    assert documented == {b.__name__ for b in requests.ALL_BODIES}
