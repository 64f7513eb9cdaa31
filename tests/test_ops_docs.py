"""On a cluster that no `firebreak up` supervises (like real sites): the ops API reports every DC
and refuses process actions clearly; and `/docs` renders in a real browser with no internet."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, Route

from firebreak.localcluster import LocalCluster


async def test_ops_api_without_a_supervisor(cluster: LocalCluster) -> None:
    token = {"x-ops-token": cluster.config.secrets.ops_token}
    dc1 = cluster.config.dcs[0].http_url
    async with httpx.AsyncClient(timeout=30) as http:
        status = (await http.get(dc1 + "/internal/dcs", headers=token)).json()
        assert status["supervised"] is False and status["log_error"] is None
        assert [d["name"] for d in status["dcs"]] == [d.name for d in cluster.config.dcs]
        for dc in status["dcs"]:
            assert dc["processes"] is None and dc["answering"] and dc["lag"] is not None
        leads = [s for dc in status["dcs"] for s in dc["leads"]]
        assert sorted(leads) == sorted(status["log_last"]), "every stream's leader is in some DC"
        refused = await http.post(dc1 + "/internal/dcs/dc2/stop", headers=token)
        assert refused.status_code == 501 and refused.json()["error"]["code"] == "not_supervised"
        assert "service manager" in refused.json()["error"]["message"]
        assert (await http.post(dc1 + "/internal/dcs/dc2/stop")).status_code == 403


async def test_api_docs_render_without_internet(cluster: LocalCluster, browser: Browser) -> None:
    page = await browser.new_page()
    blocked: list[str] = []

    async def only_the_gateway(route: Route) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_the_gateway)
    await page.goto(cluster.config.dcs[0].http_url + "/docs")
    operations = page.locator(".opblock")
    await operations.first.wait_for(timeout=20_000)
    text = await page.inner_text("body")
    assert "/v1/accounts" in text and "/v1/rooms/{room_id}/messages" in text, text[:500]
    assert await operations.count() >= 15, "every operation is listed"
    assert not blocked, f"the page asked for outside files: {blocked}"
    await page.close()
