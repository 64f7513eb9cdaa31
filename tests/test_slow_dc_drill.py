"""The ``slow-dc`` drill (slow set): the DC leading the streams of most of the drill's rooms has
its links slowed by 100 ms each way with 1 % loss from 4 s to 50 s of a 54 s drill, through the
link proxies (no root). Writes go on and nothing acknowledged is lost; the leaders leave the slow
DC while its links are still slow, so writes are fast again; after the restore the read models
agree. How soon the leaders leave is a figure (printed with ``pytest -s``; docs/DRILLS.md) rather
than a tight bound: two route samples 2 s apart, the slow DC's next heartbeat and the balancer's
next round (5 s ± 25 % each), whose own questions cross the slow links, took 10-31 s on this
machine. The one bound left is the drill's shape: they must leave before the restore at 50 s with
enough of the slow phase left for more than 50 sends (~3.5 s at 15/s), so within ~42 s."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from firebreak.drill import report
from firebreak.drill.plan import Disaster, needs_link_proxies
from firebreak.drill.runner import Drill
from firebreak.localcluster import ephemeral_config
from firebreak.localcluster.linkfaults import LinkFault
from tests.test_drill import SMALL, assert_clean

pytestmark = pytest.mark.slow

SLOW_LEADER = (Disaster("slow", 4, "leader"), Disaster("restore", 50, ""))


async def test_a_slow_dc_loses_nothing_and_its_leaders_move_off(tmp_path: Path) -> None:
    options = msgspec.structs.replace(SMALL, disasters=SLOW_LEADER, duration_s=54.0)
    assert needs_link_proxies(options)
    config = ephemeral_config(tmp_path / "cluster", partitions=options.partitions)
    result = await Drill(config, options, "pytest", lambda line: None, links=LinkFault()).run()
    print(report.phase_lines(result.findings.phases))  # the figures, with pytest -s
    assert_clean(result)
    assert result.findings.verdict.failed == 0, result.findings.errors
    labels = [m.label for m in result.marks]
    slow = result.marks[0].dc
    assert labels == [f"slow {slow}", f"leaders off {slow}", f"restore {slow}"], labels
    print(f"leaders off the slow DC {result.marks[1].at - result.marks[0].at:.1f} s after it slowed")
    before, during, moved, _ = result.findings.phases
    assert during.label == f"after slow {slow}" and moved.label == f"after leaders off {slow}"
    # While it still led, writes to its streams waited for a follower across a 200 ms round trip.
    # (The slowest such write, not a percentile: the slow DC leads the streams of most of the
    # drill's rooms, but not necessarily most of the sends.)
    assert during.send_to_ack.max is not None and during.send_to_ack.max >= 0.2, during
    # Once its leaders left, writes were fast again though its links were still slow. Not the
    # 99th percentile: a sender whose last answer named the slow DC as the room's leader sends
    # there once more and learns the new leader from that answer, so right after the move a few
    # sends (at most one per sender and room) still cross the slow link, and two of ~140 make a
    # p99 over 200 ms while the p95 stays under 20 ms.
    assert moved.send_to_ack.count > 50, moved
    assert moved.send_to_ack.p50 is not None and moved.send_to_ack.p50 < 0.1, moved
    assert moved.send_to_ack.p95 is not None and moved.send_to_ack.p95 < 0.2, moved
    # Before, the same measure: with ~60 sends the p99 is the slowest one, and one send held up by
    # a busy machine is not a slow link (177 ms seen beside two CPU hogs, against a 200 ms bound).
    assert before.send_to_ack.p95 is not None and before.send_to_ack.p95 < 0.2, before
