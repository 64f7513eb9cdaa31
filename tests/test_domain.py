"""Unit tests of the pure domain: ids, cursors, events, projection rules, config."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import msgspec
import pytest

from firebreak.adapters import sqlite_store
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.config import Config
from firebreak.config_file import dump_config, load_config
from firebreak.domain import events as ev
from firebreak.domain.ids import (
    ROOM_ID_PATTERN,
    Cursor,
    direct_room_id,
    group_room_id,
    partition_of,
    room_stream,
    user_id_for,
)
from firebreak.errors import BadRequest, ConfigError
from firebreak.service.projector import Projector


def test_cursor_round_trip_and_rejects() -> None:
    c = Cursor([0, 17, 3])
    assert str(c) == "c1-0-17-3"
    assert Cursor.parse(str(c), 3) == c
    for bad in ("c1-1-2", "c2-1-2-3", "c1-a-b-c", "c1--1-2-3", ""):
        with pytest.raises(BadRequest):
            Cursor.parse(bad, 3)


KEY = bytes(range(32))


def test_ids_are_stable() -> None:
    assert direct_room_id(KEY, "u_a", "u_b") == direct_room_id(KEY, "u_b", "u_a")
    # fixed values: a change here would re-shard every existing room
    assert partition_of("g_example", 3) == 1
    assert [partition_of(f"r{i}", 4) for i in range(6)] == [0, 2, 0, 2, 1, 0]
    assert [partition_of(f"g_{i:024x}", 12) for i in range(8)] == [9, 1, 0, 9, 0, 2, 1, 7]
    assert direct_room_id(KEY, "u_a", "u_b").startswith("d_")
    assert group_room_id(KEY, "u_a", "req-1") == group_room_id(KEY, "u_a", "req-1")


def _unkeyed(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() + b"\x00")
    return h.hexdigest()[:24]


def test_room_ids_need_the_cluster_key() -> None:
    """Room ids are deterministic for the key holder only: from usernames (and request ids) alone,
    neither the old plain digest nor a guessable key gives them."""
    a, b = user_id_for("alice"), user_id_for("bob")
    other_key = bytes(31) + b"\x01"
    direct = direct_room_id(KEY, a, b)
    group = group_room_id(KEY, a, "req-1")
    assert re.fullmatch(ROOM_ID_PATTERN, direct) and re.fullmatch(ROOM_ID_PATTERN, group)
    assert direct != direct_room_id(other_key, a, b) != direct_room_id(b"", a, b)
    assert group != group_room_id(other_key, a, "req-1")
    low, high = sorted((a, b))
    assert direct[2:] != _unkeyed("direct", low, high), "the id once computable by anyone"
    assert group[2:] != _unkeyed("group", a, "req-1")
    # distinct pairs and distinct request ids still get distinct rooms under one key
    assert direct_room_id(KEY, a, user_id_for("carol")) != direct
    assert group_room_id(KEY, a, "req-2") != group != group_room_id(KEY, b, "req-1")


def test_events_are_strict() -> None:
    good = ev.MessageSent(v=1, at=1, room_id="r", sender="u", client_id="c", text="hi")
    assert ev.decode_room_event(ev.encode(good)) == good
    with pytest.raises(msgspec.ValidationError):
        ev.decode_room_event(
            b'{"type":"message_sent","v":1,"at":1,"room_id":"r","sender":"u","client_id":"c","text":"hi","x":1}'
        )
    with pytest.raises(msgspec.ValidationError):
        ev.decode_room_event(b'{"type":"nonsense","v":1,"at":1}')
    with pytest.raises(msgspec.ValidationError):
        ev.decode_room_event(
            b'{"type":"message_sent","v":2,"at":1,"room_id":"r","sender":"u","client_id":"c","text":"hi"}'
        )
    with pytest.raises(msgspec.ValidationError):
        ev.MessageSent(v=9, at=1, room_id="r", sender="u", client_id="c", text="hi")


def _projector() -> tuple[Projector, Queries]:
    conn = sqlite_store.connect(":memory:")
    return Projector(SqliteStore(conn), 1, lambda applied: None), Queries(conn)


def _entry(seq: int, event: ev.RoomEvent) -> tuple[str, int, bytes]:
    return (room_stream(0), seq, ev.encode(event))


def test_projection_rules() -> None:
    proj, q = _projector()
    e: list[ev.RoomEvent] = [
        ev.RoomCreated(v=1, at=1, room_id="g", kind="group", name="n", creator="a", members=("b",)),
        ev.MessageSent(v=1, at=2, room_id="g", sender="a", client_id="m1", text="one"),
        ev.MessageSent(v=1, at=3, room_id="g", sender="z", client_id="m2", text="not a member"),
        ev.MessageSent(v=1, at=4, room_id="g", sender="a", client_id="m1", text="late retry"),
        ev.ReadUpTo(v=1, at=5, room_id="g", user_id="b", room_seq=99),
        ev.MemberLeft(v=1, at=6, room_id="g", user_id="b"),
        ev.MessageSent(v=1, at=7, room_id="g", sender="b", client_id="m3", text="after leaving"),
        ev.RoomCreated(v=1, at=8, room_id="g", kind="group", name="again", creator="z", members=()),
    ]
    applied = proj.apply_batch([_entry(i + 1, x) for i, x in enumerate(e)])
    assert [a.seq for a in applied] == [1, 2, 5, 6], "rule-breaking events are skipped"
    history = q.history_before("g", None, 10)
    assert [(m.room_seq, m.text) for m in history] == [(1, "one")]
    read = {m.user_id: m.read_room_seq for m in q.memberships("g")}
    assert read == {"a": 1}, "b left; a's own message counts as read"
    assert applied[2].recipients and set(applied[3].recipients) == {"a", "b"}, "the leaver hears of it"
    assert proj.head[room_stream(0)] == 8


def test_config_round_trip(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data", partitions=5, read_model_commit_s=0.2)
    path = tmp_path / "c.toml"
    path.write_text(dump_config(config))
    assert load_config(path) == config
    for bad in ("partitions = 0", "read_model_commit_s = -1", "read_model_commit_s = 7200"):
        path.write_text(f"[cluster]\n{bad}\n")
        with pytest.raises(ConfigError):
            load_config(path)
    path.write_text("[nonsense]\n")
    with pytest.raises(ConfigError):
        load_config(path)


def _three_dcs(first: str) -> str:
    def ports(i: int) -> str:
        nats = f"nats_port = {4221 + i}\ncluster_port = {6221 + i}\nmonitor_port = {8221 + i}\n"
        return f"{nats}http_port = {8000 + i}\n"

    rest = "".join(f'[[dc]]\nname = "dc{i}"\n{ports(i)}' for i in (2, 3))
    return f'[[dc]]\nname = "dc1"\n{ports(1)}{first}\n{rest}'


def test_process_ports_round_trip_and_are_checked(tmp_path: Path) -> None:
    """Each gateway process's own port (DCConfig.process_ports): one per process, distinct."""
    path = tmp_path / "c.toml"
    path.write_text(_three_dcs("gateways = 2\nprocess_ports = [8101, 8102]"))
    config = load_config(path)
    dc1 = config.dc("dc1")
    assert dc1.process_ports == (8101, 8102)
    assert (dc1.process_url(1), dc1.process_url(2)) == ("http://127.0.0.1:8101", "http://127.0.0.1:8102")
    assert config.dc("dc2").process_url(1) == config.dc("dc2").http_url, "one process: the DC's address"
    path.write_text(dump_config(config))
    assert load_config(path).dcs == config.dcs
    for bad, says in (
        ("gateways = 2\nprocess_ports = [8101]", "a port for each of its 2 gateways"),
        ("gateways = 2\nprocess_ports = [8101, 8101]", "distinct ports"),
        ("gateways = 2\nprocess_ports = [8001, 8102]", "none its http_port"),
        ("process_ports = [8101]", "several gateway processes"),
        ("gateways = 2\nprocess_ports = [8101, 8003]", "dc3's http port 8003 is also dc1's process 2 port"),
        ("gateways = 2\nprocess_ports = [8101, 4223]", "dc2's nats port 4223 is also dc1's process 2 port"),
    ):
        path.write_text(_three_dcs(bad))
        with pytest.raises(ConfigError, match=says):
            load_config(path)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[cluster]\npartitions = "3"\n', "[cluster] partitions: expected `int`, got '3'"),
        ('[[dc]]\nname = "a"\nhttp_port = "8001"\n', "[dc] http_port: expected `int`, got '8001'"),
        ("[limits]\nsend_burst = true\n", "[limits] send_burst: expected `int`, got True"),
        ("[cluster]\ndata_dir = 5\n", "[cluster] data_dir: expected `str`, got 5"),
        ("[cluster]\nparitions = 3\n", "[cluster] has no key paritions"),
        ("[cluster]\ndcs = 3\n", "[cluster] has no key dcs"),
    ],
)
def test_config_values_are_checked_by_type(tmp_path: Path, text: str, says: str) -> None:
    """Each wrong type is a ConfigError naming the key, never a TypeError or a silently wrong value
    (``http_port = "8001"`` was once accepted as a string)."""
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.message.startswith(says), caught.value.message
    path.write_text("[limits]\nsend_rate_per_s = 20\n")
    assert load_config(path).limits.send_rate_per_s == 20.0, "an integer is a fine float"


def test_client_id_reuse_across_partitions_is_order_independent() -> None:
    """Found in review: a dedupe rule across rooms made the outcome depend on the order in which a
    DC applies different streams. Rooms in different partitions, same sender and client id."""
    conns = [sqlite_store.connect(":memory:") for _ in range(2)]
    projectors = [Projector(SqliteStore(c), 2, lambda applied: None) for c in conns]
    rooms = ["g_a", "g_b"]  # partitions 0 and 1 of 2
    logs = []
    for p, room in enumerate(rooms):
        created = ev.RoomCreated(
            v=1, at=1, room_id=room, kind="group", name="n", creator="u1", members=("u2",)
        )
        sent = ev.MessageSent(v=1, at=2, room_id=room, sender="u1", client_id="same", text=room)
        logs.append([(room_stream(p), 1, ev.encode(created)), (room_stream(p), 2, ev.encode(sent))])
    projectors[0].apply_batch(logs[0] + logs[1])
    projectors[1].apply_batch(logs[1] + logs[0])
    first, second = (Queries(c) for c in conns)
    assert first.digest() == second.digest()
    assert [m.text for m in first.history_before("g_a", None, 10)] == ["g_a"]
    assert [m.text for m in first.history_before("g_b", None, 10)] == ["g_b"]
