"""Search on a real cluster: Korean words found inside sentences, the same pages at every DC, and
nothing from rooms the caller is not in."""

from __future__ import annotations

import pytest

from firebreak.client import ApiError
from firebreak.localcluster import LocalCluster
from firebreak.wire.views import SearchResult
from tests.helpers import ClientFactory, pinned, settled, user

SENTENCES = [
    "오늘 저녁에 삼겹살 먹으러 갈래?",
    "삼겹살 좋지! 몇 시에 만날까?",
    "일곱 시에 회사 앞에서 보자",
    "나는 삼겹살보다 갈비가 좋아",
    "내일 저녁은 회의가 늦게 끝나",
]


async def test_same_hits_at_every_dc(cluster: LocalCluster, make_client: ClientFactory) -> None:
    a, b, stranger = await user(make_client, 0), await user(make_client, 1), await user(make_client, 2)
    assert b.user
    room = await a.create_group("저녁 약속", [b.user.username])
    for i, text in enumerate(SENTENCES):
        await (a if i % 2 == 0 else b).send(room.room_id, text)
    await stranger.send((await stranger.create_group("other", [])).room_id, "삼겹살 파티는 우리끼리")
    await settled(cluster)

    async def pages(dc: int, query: str) -> list[SearchResult]:
        client = pinned(make_client, b, dc)
        out = [await client.search(query, limit=2)]
        while out[-1].next_cursor is not None:
            out.append(await client.search(query, limit=2, cursor=out[-1].next_cursor))
        return out

    for query, seqs in [("삼겹살", {1, 2, 4}), ("저녁", {1, 5}), ("회의", {5})]:
        at_dcs = [await pages(dc, query) for dc in range(3)]
        assert at_dcs[0] == at_dcs[1] == at_dcs[2], query
        hits = [h for page in at_dcs[0] for h in page.hits]
        assert {h.room_seq for h in hits} == seqs, query
        assert all(h.room_id == room.room_id for h in hits)
        for h in hits:
            assert [h.snippet[x:y] for x, y in h.highlights] == [query]

    assert (await pinned(make_client, stranger, 1).search("삼겹살")).hits[0].room_id != room.room_id
    with pytest.raises(ApiError) as refused:
        await stranger.search("삼겹살", room_id=room.room_id)
    assert (refused.value.status, refused.value.code) == (404, "unknown_room")
