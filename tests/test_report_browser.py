"""The drill report as a person sees it: rendered by a real browser (Debian chromium, Playwright)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser

from firebreak.drill.checker import check
from firebreak.drill.plan import DrillOptions
from firebreak.drill.record import HistoryEntry, Mark, ReadProbe, Receipt, SendRecord
from firebreak.drill.report import render_html
from firebreak.drill.runner import DrillResult


def result(*, lose_one: bool) -> DrillResult:
    sends = []
    for i in range(20):
        wait = 5.1 if i == 8 else 0.02  # one send waits out an election
        dc = "dc1" if i < 6 else "dc2"
        t = i * 0.5
        sends.append(
            SendRecord("ua", f"c{i}", "g_r", scheduled=t, started=t, acked=t + wait, room_seq=i + 1, dc=dc)
        )
    stored = sends[1:] if lose_one else sends
    history = [HistoryEntry(s.sender, s.client_id, s.room_seq) for s in stored]
    receipts = [
        Receipt("b/0", "ub", "g_r", s.sender, s.client_id, s.room_seq, (s.acked or 0) + 0.01) for s in stored
    ]
    marks = [Mark(4.0, "fire dc2", "dc2"), Mark(7.0, "rebuild dc2", "dc2")]
    findings = check(
        sends=sends,
        receipts=receipts,
        rooms={"g_r": ["ua", "ub"]},
        devices={"ua": [], "ub": ["b/0"]},
        histories={"dc1": {"g_r": history}, "dc3": {"g_r": history}},
        digests={"dc1": "d", "dc3": "d"},
        marks=marks,
        probes=[ReadProbe(5.0, "dc1", True, 0.002)],
        end=10.0,
    )
    dcs = ["dc1", "dc2", "dc3"]
    return DrillResult(
        DrillOptions(),
        "firebreak drill --seed 1",
        "2026-11-28T00:00:00Z",
        dcs,
        marks,
        findings,
        {"dc2": 8.2},
        60.0,
    )


async def test_a_person_reads_the_report_at_a_glance(browser: Browser, tmp_path: Path) -> None:
    page_path = tmp_path / "report.html"
    page_path.write_text(render_html(result(lose_one=False)))
    page = await browser.new_page()
    await page.goto(page_path.as_uri())
    assert "PASSED" in await page.title()
    summary = await page.inner_text("#summary")
    assert (
        "fire dc2 at 4.0 s" in summary
        and "nothing was lost" in summary
        and "dc2 was back at 8.2 s" in summary
    )
    assert "1/1 rooms could not write for up to 5.1 s" in summary
    # header, 9 message checks, 2 file checks, identical read models
    assert await page.locator("#verdict tr").count() == 13
    for chart in await page.locator("svg").all():
        box = await chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 60, "charts are drawn"
    assert await page.locator("text=firebreak drill --seed 1").count() == 1, "the command to repeat it"
    await page.close()


async def test_a_failed_drill_shows_red(browser: Browser, tmp_path: Path) -> None:
    page_path = tmp_path / "report.html"
    page_path.write_text(render_html(result(lose_one=True)))
    page = await browser.new_page()
    await page.goto(page_path.as_uri())
    assert "FAILED" in await page.title()
    assert "1 acknowledged messages LOST" in await page.inner_text("#summary")
    bad_rows = page.locator("#verdict tr.bad")
    assert await bad_rows.count() >= 1
    color = await bad_rows.first.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert color == "rgb(254, 226, 226)", "failing checks are highlighted"
    await page.close()
