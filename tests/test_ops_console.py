"""The operations console (/ops) and the public status page (/status), against a real three-DC
cluster and in a real browser: dc2's console shows every DC, then dc1 burned (down), rebuilding
and ready again; the status page says dc1 is down and then back (docs/OPERATIONS.md)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page
from prometheus_client.parser import text_string_to_metric_families

from firebreak.entrypoints.ops_console.drill_runs import DrillRuns, is_local
from firebreak.errors import FirebreakError
from firebreak.localcluster import LocalCluster
from tests.helpers import (
    ClientFactory,
    clients_of,
    cluster_config,
    eventually,
    local_cluster,
    ops_sign_in,
    user,
)

SHOTS = Path(os.environ.get("FIREBREAK_ARTIFACTS", "test-artifacts")) / "ops-console"


@pytest.fixture(scope="module")
async def fire_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    """A cluster of this module's own: its test burns a DC."""
    local = local_cluster(cluster_config(Path(tmp_path_factory.mktemp("ops"))))
    try:
        await local.start()
        yield local
    finally:
        local.stop()


async def status_of(cluster: LocalCluster, dc: int) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=10) as http:
        answer: dict[str, object] = (await http.get(cluster.config.dcs[dc].http_url + "/status.json")).json()
    return answer


async def card_state(page: Page, dc: str) -> str | None:
    return await page.get_attribute(f'#dcs article[data-dc="{dc}"]', "data-state")


async def has_state(page: Page, dc: str, state: str) -> bool:
    return await card_state(page, dc) == state


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_status_page_in_plain_words(fire_cluster: LocalCluster, browser: Browser) -> None:
    report = await status_of(fire_cluster, 1)
    assert report["overall"] == "All systems are working normally."
    assert [d["state"] for d in report["dcs"]] == ["up", "up", "up"]  # type: ignore[attr-defined]
    page = await browser.new_page()
    await page.goto(fire_cluster.config.dcs[1].http_url + "/status")
    assert await page.locator("#dcs li[data-state=up]").count() == 3
    assert "working normally" in await page.inner_text("#overall")
    await page.close()


@pytest.mark.slow
async def test_console_runs_a_short_drill(fire_cluster: LocalCluster, browser: Browser) -> None:
    """The drill button: one drill at a time against a throwaway cluster; its report is listed."""
    page = await browser.new_page()
    await ops_sign_in(page, fire_cluster, 0)
    await page.click("#run-drill")
    await page.wait_for_selector("#confirm[open]")
    await page.click("#confirm-yes")
    await page.wait_for_selector("#drill-state[data-state=running]")
    assert await page.locator("#run-drill").is_disabled()
    ops = {"x-ops-token": fire_cluster.config.secrets.ops_token}
    async with httpx.AsyncClient(
        base_url=fire_cluster.config.dcs[0].http_url, headers=ops, timeout=10
    ) as http:
        again = await http.post("/ops/api/drills/run")
        assert again.status_code == 409 and again.json()["error"]["code"] == "drill_running"
        name = (await http.get("/ops/api/drills/run")).json()["name"]
    await shot(page, "5-drill-running")
    await page.wait_for_selector("#drill-state[data-state=passed]", timeout=240_000)
    await page.wait_for_selector(f"#drills li[data-report='{name}']:has-text('PASSED')")
    assert not (fire_cluster.config.data_dir / "drill-runs" / name / "cluster").exists(), "thrown away"
    await shot(page, "6-drill-passed")
    await page.close()


def test_a_console_drill_needs_a_local_cluster(tmp_path: Path) -> None:
    local = cluster_config(tmp_path)
    assert is_local(local)
    remote = replace(local, dcs=(replace(local.dcs[0], host="10.1.2.3"), *local.dcs[1:]))
    assert not is_local(remote)
    with pytest.raises(FirebreakError) as refused:
        DrillRuns(remote, tmp_path / "drills").start()
    assert refused.value.status == 501 and refused.value.code == "not_local"


async def test_console_shows_a_burn_and_the_rebuild_from_dc2(
    fire_cluster: LocalCluster, browser: Browser, make_fire_client: ClientFactory
) -> None:
    cluster = fire_cluster
    # A drill report where the console looks for them.
    report_dir = cluster.config.data_dir / "drills" / "fire-dc1"
    report_dir.mkdir(parents=True)
    report = {"summary": "fire dc1 at 3.0 s; nothing was lost.", "verdict": {"passed": True}}
    (report_dir / "report.json").write_text(json.dumps({**report, "started_at": "2026-11-30T10:00:00Z"}))
    (report_dir / "report.html").write_text("<title>drill</title>")
    # Something for the rebuild to copy.
    alice, bob = await user(make_fire_client, 0, "alice"), await user(make_fire_client, 2, "bob")
    assert bob.user is not None
    room = await alice.open_direct(bob.user.username)
    await alice.send_batch(room.room_id, [(f"c{i}", f"message {i}") for i in range(50)])

    page = await browser.new_page()
    await ops_sign_in(page, cluster, 1)

    async def all_ready() -> bool:
        return all([await card_state(page, d.name) == "ready" for d in cluster.config.dcs])

    await eventually(all_ready, what="three ready DCs on the console")
    assert await page.locator("#drills li[data-report=fire-dc1]:has-text('PASSED')").count() == 1
    for field in ("clients", "lag", "leads", "sends/s", "deliveries/s", "errors"):
        assert await page.locator(f'article[data-dc="dc2"] dd[data-field="{field}"]').count() == 1

    # An action: asks for confirmation, then its answer is on the timeline.
    await page.click("#rebalance")
    await page.wait_for_selector("#confirm[open]")
    await page.click("#confirm-yes")
    await page.wait_for_selector("#timeline li:has-text('rebalance: done')", timeout=30_000)
    await shot(page, "1-all-ready")

    # A console that looks only every 3 s, longer than this small rebuild takes.
    slow = await browser.new_page()
    await ops_sign_in(slow, cluster, 2, poll_ms=3000)
    await eventually(lambda: has_state(slow, "dc1", "ready"), what="the slow console up")
    cluster.kill("dc1", burn=True)
    await eventually(lambda: has_state(page, "dc1", "down"), within_s=30, what="dc1 down on dc2's console")
    await eventually(lambda: has_state(slow, "dc1", "down"), within_s=30, what="dc1 down on the slow console")
    down = await status_of(cluster, 1)
    dc1 = down["dcs"][0]  # type: ignore[index]
    assert dc1["state"] == "down" and "not answering" in dc1["words"]
    assert "dc1" in str(down["overall"]) and down["affected"]
    await shot(page, "2-dc1-down")

    cluster.start_dc("dc1")
    await eventually(lambda: has_state(page, "dc1", "ready"), within_s=90, what="dc1 ready on dc2's console")
    await shot(page, "3-dc1-back")
    seen = [
        await li.get_attribute("data-state")
        for li in reversed(await page.locator('#timeline li[data-dc="dc1"][data-state]').all())
    ]
    assert seen[:1] == ["ready"] and seen[-1] == "ready", seen
    after_burn = seen[seen.index("down") :]
    assert after_burn[0] == "down" and after_burn[-1] == "ready"
    # The catching up is on the timeline, even on a console that looks only every 3 s.
    assert "catching up" in after_burn, after_burn
    await eventually(lambda: has_state(slow, "dc1", "ready"), within_s=30, what="dc1 ready, slow console")
    slow_seen = [
        await li.get_attribute("data-state")
        for li in reversed(await slow.locator('#timeline li[data-dc="dc1"][data-state]').all())
    ]
    slow_after = slow_seen[slow_seen.index("down") :]
    assert slow_after[-1] == "ready" and "catching up" in slow_after, slow_after
    await slow.close()

    back = await status_of(cluster, 1)
    assert back["overall"] == "All systems are working normally."
    await eventually(lambda: has_state(page, "dc2", "ready"), what="dc2 ready before its gateway goes")
    # The DC that served the console goes: the open page carries on with another DC's ops API.
    cluster.kill_gateway("dc2")
    await eventually(lambda: has_state(page, "dc2", "down"), within_s=30, what="dc2 down on its own console")
    assert "ops API from dc1" in await page.inner_text("#served")
    await shot(page, "4-dc2-gone")
    async with httpx.AsyncClient(timeout=5) as http:
        metrics = (
            await http.get(
                cluster.config.dcs[0].http_url + "/metrics",
                headers={"x-ops-token": cluster.config.secrets.ops_token},
            )
        ).text
    rebuilt = {
        s.name: s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
        if s.name.startswith("firebreak_rebuild_")
    }
    assert rebuilt["firebreak_rebuild_caught_up"] == 1
    assert rebuilt["firebreak_rebuild_applied_entries"] == rebuilt["firebreak_rebuild_target_entries"] >= 50
    await page.close()


@pytest.fixture
async def make_fire_client(fire_cluster: LocalCluster) -> AsyncIterator[ClientFactory]:
    async with clients_of(fire_cluster) as make:
        yield make
