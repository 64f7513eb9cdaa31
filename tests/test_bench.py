"""`firebreak bench` runs and produces well-formed figures (no timing assertions: figures are
recorded in docs/PERFORMANCE.md, not asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import cast

import nats.errors
import nats.js.errors
import pytest
from nats.js.api import PubAck
from nats.js.client import JetStreamContext

from firebreak.bench.rebuild import fill_log


# Slow set: four fresh clusters (~35 s).
@pytest.mark.slow
def test_bench_sweep_with_repeats_produces_well_formed_results(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "firebreak.entrypoints.cli", "bench", "--rooms", "1", "--room-size", "3",
         "--duration", "2", "--raw-messages", "300", "--raw-sequential", "30", "--sweep", "room_size=2,3",
         "--repeat", "2", "--text", "words", "--json", str(out)],
        capture_output=True, text=True, timeout=240, check=False, env={**os.environ, "TMPDIR": str(temp)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list(temp.iterdir()) == [], "each run removes its cluster files"
    assert "ratio to raw pipelined" in proc.stdout and "room_size" in proc.stdout
    assert proc.stdout.count("median of 2 runs:") == 2
    written = json.loads(out.read_text())
    runs, medians = written["runs"], written["medians"]
    assert [r["options"]["room_size"] for r in runs] == [2, 2, 3, 3]
    assert {r["options"]["text"] for r in runs} == {"words"}
    for m, pair in zip(medians, (runs[:2], runs[2:]), strict=True):
        per_s = sorted(r["firebreak"]["per_s"] for r in pair)
        assert m["runs"] == 2 and m["per_s_min"] == per_s[0] and m["per_s_max"] == per_s[1]
        assert m["per_s_median"] == round(sum(per_s) / 2, 1)
        assert m["ratio_to_raw_median"] > 0 and m["cpu_ms_per_message_median"] > 0
    for r in runs:
        fb = r["firebreak"]
        assert fb["messages"] > 0 and fb["per_s"] > 0 and fb["undelivered_messages"] == 0
        assert fb["failed_sends"] == 0
        assert fb["deliveries"] == fb["messages"] * r["options"]["room_size"], "each online member got each"
        for key in ("p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms"):
            assert fb["send_to_ack"][key] > 0 and fb["send_to_all_delivered"][key] > 0
        assert [x["mode"].split()[0] for x in r["raw"]] == ["pipelined", "one", "pipelined"]
        assert r["raw"][0]["mode"].endswith("before") and r["raw"][2]["mode"].endswith("after")
        assert all(x["per_s"] > 0 for x in r["raw"]) and r["ratio_to_raw_pipelined"] > 0
        assert isinstance(r["leader_moves"], int) and r["leader_moves"] >= 0
        lag = r["follower_lag"]
        assert lag["samples"] >= 0 and lag["max_lag"] >= lag["p99_lag"] >= 0 and 0 <= lag["not_current"] <= 1
        names = set(r["processes"])
        assert {"gateway dc1", "nats-server dc3", "load generator"} <= names and len(names) == 7
        assert all(p["cpu_s"] >= 0 and p["peak_rss_mb"] > 0 for p in r["processes"].values())


def test_bench_refuses_a_repeat_out_of_range() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "firebreak.entrypoints.cli", "bench", "--repeat", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0 and "--repeat takes 1-50" in proc.stderr


def test_read_model_bench_is_well_formed() -> None:
    from firebreak.bench.readmodel import run_read_model_bench

    for batch in (4, 10_000):
        r = run_read_model_bench(messages=2000, rooms=10, room_size=3, queries=50, batch=batch)
        assert r.events == 2010 and r.batch == batch and r.events_per_s > 0 and r.db_mb > 0
        assert r.history_page_50.count == 50 and (r.history_page_50.p99_ms or 0) > 0


def test_presence_bench_is_well_formed() -> None:
    from firebreak.bench.presence import run_presence_bench

    r = run_presence_bench(sources=3, users_per_source=6000, beats=20)
    assert (r.sources, r.users, r.beats) == (3, 18_000, 20)
    assert r.online_at_end == 18_000, "pulses keep every listed user online"
    assert r.notes_per_s > 0 and r.cpu_ms_per_s > 0


def test_rebuild_bench_rebuilds_a_burned_read_model(tmp_path: Path) -> None:
    out = tmp_path / "rebuild.json"
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "firebreak.entrypoints.cli", "bench", "--rebuild", "3000", "--json", str(out)],
        capture_output=True, text=True, timeout=240, check=False, env={**os.environ, "TMPDIR": str(temp)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list(temp.iterdir()) == [], "the rebuild bench removes its cluster files"
    r = json.loads(out.read_text())
    # 1,000 room creations + 3,000 messages, all applied again by the restarted gateway
    assert r["entries"] == 4000 and r["events_per_s"] > 0
    assert 0 < r["ready_seconds"] <= r["rebuild_seconds"] and r["db_mb"] > 0


def test_search_bench_is_well_formed() -> None:
    from firebreak.bench.search import run_search_bench

    r = run_search_bench(messages=2000, queries=20)
    assert r.messages == 2000 and r.apply_events_per_s > 0 and r.db_mb > 0
    assert {(c.who, c.words, c.order) for c in r.cases} == {
        (who, words, order)
        for who in ("1 room", "100 rooms")
        for words in ("by frequency", "most common", "rare")
        for order in ("newest", "relevance")
    }
    for case in r.cases:
        assert case.latency.count == 20 and case.latency.p99_ms is not None


def test_bench_refuses_options_out_of_range_or_where_they_do_not_apply() -> None:
    for argv, says in (
        (("--read-model-commit-s", "-1"), "--read-model-commit-s takes 0-3600 seconds"),
        (("--read-model-commit-s", "0.5", "--read-model", "10"), "applies to the chat load only"),
        (("--read-model-commit-s", "0.5", "--workload", "pay"), "applies to the chat load only"),
        (("--text", "words", "--search", "1000"), "--text applies to the chat load, --read-model"),
        (("--text", "words", "--workload", "pay"), "--text applies to the chat load, --read-model"),
        (("--message-size", "0", "--read-model", "1000"), "--message-size takes 1-4000 bytes"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "firebreak.entrypoints.cli", "bench", *argv],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode != 0 and says in proc.stderr, argv


def test_bench_cluster_commits_as_asked(tmp_path: Path) -> None:
    """The interval given to the bench is the one its gateways read (the config file the local
    cluster writes for them), and without it the config's default, recorded in the options."""
    from firebreak.bench.load_shapes import BenchOptions
    from firebreak.config import Config
    from firebreak.config_file import dump_config, load_config
    from firebreak.entrypoints.bench_cli import cluster_config
    from firebreak.entrypoints.bench_modes import bench_limits

    default = Config(data_dir=tmp_path).read_model_commit_s
    assert BenchOptions().read_model_commit_s == default
    for options, want in ((BenchOptions(read_model_commit_s=0.25), 0.25), (BenchOptions(), default)):
        config = cluster_config(tmp_path, options, bench_limits(), 1)
        (tmp_path / "cluster.toml").write_text(dump_config(config))
        assert load_config(tmp_path / "cluster.toml").read_model_commit_s == want


class _ElectingStream:
    """A JetStream context whose stream is between leaders for its first ``lost`` publishes (no
    responders, as nats-py says it), and whose answer to one stored publish is lost (a timeout):
    what a fill meets when a leader steps down under load."""

    def __init__(self, lost: int) -> None:
        self.lost = lost
        self.stored: dict[str, bytes] = {}
        self.tries: list[str] = []

    async def publish(self, subject: str, data: bytes, **options: dict[str, str] | float) -> PubAck:
        headers = options["headers"]
        assert isinstance(headers, dict)
        msg_id = headers["Nats-Msg-Id"]
        self.tries.append(msg_id)
        if self.lost > 0:
            self.lost -= 1
            raise nats.js.errors.NoStreamResponseError
        duplicate = msg_id in self.stored
        self.stored.setdefault(msg_id, data)
        if msg_id == "fill:3" and self.tries.count(msg_id) == 2:
            raise nats.errors.TimeoutError  # stored, but its answer did not come back
        return PubAck(stream="ROOMS_0", seq=len(self.stored), duplicate=duplicate)


async def test_the_rebuild_fill_tries_again_through_an_election_and_stores_each_entry_once() -> None:
    js = _ElectingStream(lost=5)
    entries = [(f"rooms.0.g_{i}", f"e{i}".encode()) for i in range(7)]
    said: list[str] = []
    count = await fill_log(cast(JetStreamContext, js), entries, said.append, within_s=30)
    assert count == 7
    assert js.stored == {f"fill:{i}": f"e{i}".encode() for i in range(7)}, "each entry stored once"
    assert js.tries.count("fill:3") >= 3, "the one whose answer was lost was asked again, same id"


async def test_the_rebuild_fill_gives_up_when_no_leader_comes() -> None:
    js = _ElectingStream(lost=10**6)
    with pytest.raises(nats.js.errors.NoStreamResponseError):
        await fill_log(cast(JetStreamContext, js), [("rooms.0.g_0", b"e")], lambda _: None, within_s=0.3)
