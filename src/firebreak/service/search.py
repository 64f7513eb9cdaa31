"""Search over the messages of the caller's rooms (docs/API.md, "Search").

Only rooms the caller is an active member of, and their whole history, as history pages show it
(service/room_queries.py: a member reads a room's messages from its first). Deleted messages are
not in the index; edited ones are found by their current text.
"""

from __future__ import annotations

import re

from firebreak.adapters.sqlite_search import SearchQueries, SearchRow
from firebreak.config import Config
from firebreak.domain.search import MIN_TRIGRAM, make_snippet, terms
from firebreak.domain.validation import check_unicode
from firebreak.errors import BadRequest
from firebreak.service.room_queries import RoomQueries
from firebreak.wire.views import SearchHit, SearchResult

#: A page cursor: ``s1-`` and how many hits come before the page.
_CURSOR = re.compile(r"s1-([0-9]{1,9})")
#: Orders of hits (docs/API.md, "Search"): newest first, as messengers list found messages, and
#: cheap at any size; or best first by bm25, which scores every match in the caller's rooms.
NEWEST, RELEVANCE = "newest", "relevance"
ORDERS = (NEWEST, RELEVANCE)
#: Characters either side of the first hit in a snippet.
_CONTEXT = 32


class Search:
    def __init__(self, config: Config, queries: SearchQueries, rooms: RoomQueries) -> None:
        self._limits = config.limits
        self._q = queries
        self._rooms = rooms

    async def search(
        self,
        me: str,
        query: str,
        room_id: str | None,
        limit: int | None,
        cursor: str | None,
        order: str = NEWEST,
    ) -> SearchResult:
        limits = self._limits
        check_unicode(query, "the query")
        if len(query) > limits.search_query_max_chars:
            raise BadRequest(
                f"a query has at most {limits.search_query_max_chars} characters", code="invalid_query"
            )
        if order not in ORDERS:
            raise BadRequest(f"order is one of {', '.join(ORDERS)}", code="invalid_order")
        if "\x00" in query:
            # FTS5 reads its query as a C string: a NUL would cut it short (a 500, not a search).
            raise BadRequest("a query holds no NUL character", code="invalid_query")
        words = terms(query)
        if not words:
            raise BadRequest("the query has no words", code="invalid_query")
        size = limits.search_page_default if limit is None else limit
        if not 1 <= size <= limits.search_page_max:
            raise BadRequest(f"limit must be 1-{limits.search_page_max}", code="invalid_limit")
        offset = self._offset(cursor)
        if offset + size > limits.search_depth_max:
            raise BadRequest(
                f"search pages reach at most {limits.search_depth_max} hits deep", code="invalid_cursor"
            )
        if room_id is not None:
            await self._rooms.member_room(room_id, me)
        long_terms = [w for w in words if len(w) >= MIN_TRIGRAM]
        short_terms = [w for w in words if len(w) < MIN_TRIGRAM]
        if long_terms:
            rooms = [room_id] if room_id is not None else self._q.rooms_of(me)
            relevance = order == RELEVANCE
            rows = self._q.indexed(long_terms, short_terms, rooms, offset, size + 1, relevance=relevance)
            hits = [self._hit(r, words) for r in rows[:size]]
        else:
            rows = self._q.recent(
                me, short_terms, room_id, limits.search_short_scan_per_room, offset, size + 1
            )
            hits = [self._hit(r, short_terms) for r in rows[:size]]
        more = len(rows) > size
        return SearchResult(
            hits=hits,
            next_cursor=f"s1-{offset + size}" if more else None,
            ranked=bool(long_terms) and order == RELEVANCE,
        )

    @staticmethod
    def _offset(cursor: str | None) -> int:
        if cursor is None:
            return 0
        found = _CURSOR.fullmatch(cursor)
        if found is None:
            raise BadRequest("not a search cursor (use next_cursor as given)", code="invalid_cursor")
        return int(found[1])

    @staticmethod
    def _hit(row: SearchRow, needles: list[str]) -> SearchHit:
        snippet, spans = make_snippet(row.text, needles, _CONTEXT)
        return SearchHit(
            room_id=row.room_id,
            room_seq=row.room_seq,
            sender=row.sender,
            at=row.at,
            p=row.p,
            seq=row.seq,
            snippet=snippet,
            highlights=[list(s) for s in spans],
        )
