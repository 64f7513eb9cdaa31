"""A DC cut off from the other two (a cut fibre, not a fire) keeps running with its clients
attached. While cut it acknowledges no write, even for streams it led; its clients' writes go
through the majority; after the heal it converges to the same read model as the others.

Runs on isolated DCs (localcluster/netns.py: each DC in its own network namespace), so the cut
is real: packets between the DCs vanish while each DC stays reachable from this machine.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from firebreak.adapters import leadership, nats_connect
from firebreak.adapters.leadership import LEADERSHIP_ERRORS, Leadership
from firebreak.config_file import dump_config
from firebreak.domain.ids import ACCOUNTS_STREAM, partition_of, room_stream
from firebreak.localcluster import Sites, isolated_config
from firebreak.localcluster.netns import unavailable
from tests.conftest import SHARED_LIMITS
from tests.helpers import (
    clients_of,
    cluster_config,
    code_of,
    collect_messages,
    digests,
    eventually,
    fully_replicated,
    live,
    local_cluster,
    read_until,
    run_cli,
    settled,
    spawn_up,
    user,
)

T = TypeVar("T")
_WHY_NOT = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_WHY_NOT is not None, reason=_WHY_NOT or "")]

#: Sends tried at the cut-off DC's own gateway while it is cut (the first waits until the DC finds
#: itself cut off, the next is refused at once).
MINORITY_TRIES = 2
#: A write in flight at the cut is answered once the DC finds itself cut off, not at the write
#: deadline (12 s): its client is at the majority within this much of that moment, or of the
#: majority electing the room stream's new leader if that comes later (nats-server's election
#: timeout is random, up to several seconds: a client cannot write before it).
MOVED_AFTER_CUT_OFF_S = 2.5


async def test_a_cut_off_dc_acknowledges_nothing_and_converges_after_the_heal(tmp_path: Path) -> None:
    sites = Sites.plan(("dc1", "dc2", "dc3"))
    config = isolated_config(tmp_path / "data", sites, limits=SHARED_LIMITS)
    cluster = local_cluster(config, sites=sites)
    try:
        await cluster.start()
        async with clients_of(cluster) as make, httpx.AsyncClient(timeout=60) as http:
            alice = await user(make, 0, "alice")
            bob = await user(make, 2, "bob")  # bob's client prefers dc3, the DC about to be cut off
            assert alice.user is not None and bob.user is not None
            room = (await alice.create_group("cut", [bob.user.username])).room_id
            await bob.send(room, "before the cut", "before")
            bob_live = live(cluster, bob, 2)  # bob's live connection is at dc3 too
            await asyncio.wait_for(bob_live.live.wait(), 30)
            # The cut DC leads the room's stream and the accounts: the harder case (partition-leader).
            stream = room_stream(partition_of(room, config.partitions))
            await leadership.move(config, {stream: "dc3", ACCOUNTS_STREAM: "dc3"})
            await eventually(lambda: fully_replicated(config), within_s=60, what="every replica current")

            # The majority's view of the room stream's leader, through dc1 (opened before the cut;
            # asked with a short timeout: no one answers while the majority elects).
            majority = await nats_connect.connect(config, prefer_dc="dc1", name="test-majority", role="ops")
            seen_by_majority = Leadership(majority, timeout_s=0.3)

            async def majority_leads() -> bool:
                try:
                    return (await seen_by_majority.placement(stream)).leader in ("dc1", "dc2")
                except LEADERSHIP_ERRORS:
                    return False

            sites.isolate("dc3")
            cut_at = time.monotonic()
            dc3 = config.dc("dc3").http_url

            answers: list[str] = []  # the whole answers, for a failure's message

            async def minority_writes() -> list[tuple[int, str]]:
                codes = []
                for i in range(MINORITY_TRIES):
                    resp = await http.post(
                        f"{dc3}/v1/rooms/{room}/messages",
                        json={"client_id": f"minority-{i}", "text": "sent to the cut-off DC"},
                        headers={"authorization": f"Bearer {bob.token}"},
                    )
                    codes.append(code_of(resp))
                    answers.append(f"{time.monotonic() - cut_at:.1f} s: {resp.text}")
                return codes

            async def says_cut_off() -> bool:
                return "cut off" in ((await http.get(f"{dc3}/healthz")).json().get("waiting_for") or "")

            async def live_elsewhere() -> bool:
                return bob_live.live.is_set() and bob_live.current != 2

            async def since_cut(step: Awaitable[T]) -> tuple[T, float]:
                return await step, time.monotonic() - cut_at

            # All at once: raw writes at the cut-off DC, its health, and bob's client (which
            # prefers dc3) moving to the majority by itself.
            (
                (minority, refused_s),
                (_, cut_off_s),
                (moved, moved_s),
                (_, live_s),
                (_, elected_s),
            ) = await asyncio.gather(
                since_cut(minority_writes()),
                since_cut(eventually(says_cut_off, within_s=60, what="dc3 to say it is cut off")),
                since_cut(bob.send(room, "from bob during the cut", "bob-cut")),
                since_cut(eventually(live_elsewhere, within_s=60, what="bob's live connection to move")),
                since_cut(eventually(majority_leads, within_s=60, what="a leader at the majority")),
            )
            await majority.close()
            assert minority == [(503, "dc_cut_off")] * MINORITY_TRIES, f"the cut-off DC answered {answers}"
            # The writes in flight at the cut were answered when the DC found itself cut off.
            assert refused_s < cut_off_s + MOVED_AFTER_CUT_OFF_S, (refused_s, cut_off_s)
            could_move_s = max(cut_off_s, elected_s)
            assert moved_s < could_move_s + MOVED_AFTER_CUT_OFF_S, (moved_s, cut_off_s, elected_s)
            refused = await http.post(
                f"{dc3}/v1/rooms/{room}/messages",
                json={"client_id": "minority-late", "text": "sent to the cut-off DC"},
                headers={"authorization": f"Bearer {bob.token}"},
            )
            assert code_of(refused) == (503, "dc_cut_off")
            await alice.send(room, "from alice during the cut", "alice-cut")
            assert moved.message.room_seq == 2
            # Bob's live stream, now at the majority, carries what was sent during the cut.
            got, _ = await collect_messages(bob_live.events, 2)
            assert [cid for _, cid, _ in got] == ["bob-cut", "alice-cut"], got
            await bob_live.close()

            sites.rejoin("dc3")
            healed_at = time.monotonic()
            await settled(cluster, within_s=60)
            converged_s = time.monotonic() - healed_at
            seen = [(d["head"], d["digest"]) for d in (await digests(cluster, list(sites.dcs))).values()]
            assert seen[0] == seen[1] == seen[2], seen

            ids = [m.client_id for m in (await alice.history(room)).messages]
            assert ids == ["before", "bob-cut", "alice-cut"], ids  # nothing the minority took
            print(
                f"\npartition of dc3: {MINORITY_TRIES} writes to it refused {refused_s:.1f} s after the "
                f"cut; it refused as cut off after {cut_off_s:.1f} s; the majority elected the room's "
                f"leader after {elected_s:.1f} s; bob's write acknowledged by the majority after "
                f"{moved_s:.1f} s, his live connection there after {live_s:.1f} s; "
                f"converged {converged_s:.2f} s after the heal"
            )
    finally:
        cluster.stop()


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in listed.splitlines() if line.strip()}


async def test_up_runs_isolated_dcs_that_dc_cut_partitions_and_heal_rejoins(tmp_path: Path) -> None:
    config = cluster_config(tmp_path / "data")
    path = tmp_path / "cluster.toml"
    path.write_text(dump_config(config))
    before = _namespaces()
    proc = await spawn_up(path, "--isolated-dcs")
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        await read_until(proc.stdout, "ready.", 120, seen)
        urls = {line.split()[0].rstrip(":"): line.split()[2] for line in seen if " http http://" in line}
        hosts = {httpx.URL(url).host for url in urls.values()}
        assert len(hosts) == 3 and all(h.startswith("10.87.") for h in hosts), urls

        code, out = await run_cli("dc", "cut", "dc3", "--config", str(path))
        assert code == 0 and "links cut now: dc1-dc3, dc2-dc3" in out, out
        async with httpx.AsyncClient(timeout=10) as http:  # cut off from its peers, not from its clients
            assert (await http.get(urls["dc3"] + "/healthz")).json()["dc"] == "dc3"
        code, out = await run_cli("dc", "heal", "dc3", "--config", str(path))
        assert code == 0 and "links cut now: none" in out, out

        proc.send_signal(signal.SIGINT)
        await read_until(proc.stdout, "stopped; data kept.", 60, seen)
        assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert _namespaces() == before, "the namespaces are removed with the cluster"
