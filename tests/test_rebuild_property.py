"""Property: applying the log event by event equals rebuilding the read model from the whole log.

Hypothesis generates logs of room events (valid and rule-breaking ones: sends, edits and deletes
by others than the sender, past the windows, of deleted messages...) spread over partitions.
Five read models consume the same log: (a) one event per transaction, (b) all at once, (c) in
random batches with the partitions interleaved in a random order (as the readers of another DC might),
(d) in random batches through the catching-up path (COMMIT in a worker thread), and (e) in random
batches through the serving path, whose transaction stays open across batches and is committed at
random points. Their contents must be identical.
"""

from __future__ import annotations

import asyncio

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from firebreak.adapters import sqlite_store
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.client.unread import UnreadBook
from firebreak.domain import events as ev
from firebreak.domain.ids import partition_of, room_stream
from firebreak.domain.model import ClientEvent
from firebreak.domain.projection import MAX_EDIT_WINDOW_MS
from firebreak.domain.reactions import REACTIONS
from firebreak.service.projector import Projector
from firebreak.service.room_queries import unread_counts

PARTITIONS = 2
USERS = ["u1", "u2", "u3", "u4"]
ROOMS = ["g_a", "g_b", "d_c"]

user = st.sampled_from(USERS)
room = st.sampled_from(ROOMS)
at = st.integers(1, 10)
#: Edits and deletes: mostly within the rules' windows, sometimes past them.
late = st.one_of(at, st.just(MAX_EDIT_WINDOW_MS + 20))


file_id = st.sampled_from(["f_" + "1" * 32, "f_" + "2" * 32])


def _created(r: str, creator: str, members: list[str], t: int) -> ev.RoomEvent:
    kind: ev.RoomKind = "direct" if r.startswith("d_") else "group"
    return ev.RoomCreated(v=1, at=t, room_id=r, kind=kind, name=r, creator=creator, members=tuple(members))


room_event = st.one_of(
    st.builds(_created, room, user, st.lists(user, max_size=3), at),
    st.builds(
        lambda r, b, us, t: ev.MembersInvited(v=1, at=t, room_id=r, by=b, user_ids=tuple(us)),
        room,
        user,
        st.lists(user, max_size=3),
        at,
    ),
    st.builds(lambda r, u, t: ev.MemberLeft(v=1, at=t, room_id=r, user_id=u), room, user, at),
    st.builds(lambda r, b, t: ev.RoomRenamed(v=1, at=t, room_id=r, by=b, name="x"), room, user, at),
    st.builds(
        lambda r, s, c, t: ev.MessageSent(v=1, at=t, room_id=r, sender=s, client_id=c, text=f"{s}:{c}"),
        room,
        user,
        st.sampled_from(["c1", "c2", "c3", "c4"]),
        at,
    ),
    st.builds(
        lambda r, u, n, t: ev.ReadUpTo(v=1, at=t, room_id=r, user_id=u, room_seq=n),
        room,
        user,
        st.integers(1, 8),
        at,
    ),
    st.builds(
        lambda r, s, n, c, t: ev.MessageEdited(
            v=1, at=t, room_id=r, sender=s, room_seq=n, client_id=c, text=f"{s}:{c}:edited"
        ),
        room,
        user,
        st.integers(1, 6),
        st.sampled_from(["e1", "e2"]),
        late,
    ),
    st.builds(
        lambda r, u, n, e, on, t: (ev.ReactionAdded if on else ev.ReactionRemoved)(
            v=1, at=t, room_id=r, user_id=u, room_seq=n, emoji=e, request_id="r"
        ),
        room,
        user,
        st.integers(1, 6),
        st.sampled_from([*REACTIONS[:2], "x"]),
        st.booleans(),
        at,
    ),
    # Files (docs/FILES.md): stored by members or not, the same file in two rooms, and messages
    # showing files of their room, of another room, or none yet stored.
    st.builds(
        lambda r, u, f, t: ev.FileStored(
            v=1,
            at=t,
            room_id=r,
            uploader=u,
            file_id=f,
            name=f"{f}.png",
            size=3,
            content_type="image/png",
            sha256="0" * 64,
        ),
        room,
        user,
        file_id,
        at,
    ),
    st.builds(
        lambda r, s, c, fs, t: ev.MessageSent(
            v=2, at=t, room_id=r, sender=s, client_id=c, text="", attachments=tuple(fs)
        ),
        room,
        user,
        st.sampled_from(["c1", "c5"]),
        st.lists(file_id, min_size=1, max_size=2),
        at,
    ),
    st.builds(
        lambda r, s, n, t: ev.MessageDeleted(v=1, at=t, room_id=r, sender=s, room_seq=n),
        room,
        user,
        st.integers(1, 6),
        late,
    ),
)


def _log(events: list[ev.RoomEvent]) -> list[tuple[str, int, bytes]]:
    seqs = [0] * PARTITIONS
    out = []
    for e in events:
        p = partition_of(e.room_id, PARTITIONS)
        seqs[p] += 1
        out.append((room_stream(p), seqs[p], ev.encode(e)))
    return out


def _model() -> tuple[Projector, Queries]:
    conn = sqlite_store.connect(":memory:")
    return Projector(SqliteStore(conn), PARTITIONS, lambda applied: None), Queries(conn)


@settings(max_examples=150, deadline=None)
@given(
    events=st.lists(room_event, max_size=40), cuts=st.lists(st.integers(1, 6), max_size=20), data=st.data()
)
def test_incremental_equals_rebuild(events: list[ev.RoomEvent], cuts: list[int], data: st.DataObject) -> None:
    log = _log(events)

    one_by_one, q1 = _model()
    for entry in log:
        one_by_one.apply_batch([entry])

    rebuilt, q2 = _model()
    if log:
        rebuilt.apply_batch(log)

    # Another DC: partitions interleaved differently, arbitrary batch boundaries.
    by_stream = {room_stream(p): [x for x in log if x[0] == room_stream(p)] for p in range(PARTITIONS)}
    order = data.draw(st.permutations([s for s, entries in by_stream.items() for _ in entries]))
    interleaved = [by_stream[s].pop(0) for s in order]
    batched, q3 = _model()
    i = 0
    for cut in [*cuts, len(interleaved)]:
        if i >= len(interleaved):
            break
        batched.apply_batch(interleaved[i : i + cut])
        i += cut

    catching_up, q4 = _model()

    async def catch_up() -> None:
        i = 0
        for cut in [*cuts, len(log)]:
            if i >= len(log):
                break
            await catching_up.apply_batch_catching_up(log[i : i + cut])
            i += cut

    asyncio.run(catch_up())

    serving, q5 = _model()

    async def serve() -> None:
        i = 0
        for n, cut in enumerate([*cuts, len(log)]):
            if i >= len(log):
                break
            serving.apply_batch_open(log[i : i + cut])
            i += cut
            if commit_after[n % len(commit_after)]:
                serving.commit()
        open_digests.append(q5.digest())  # the transaction may still be open: what a DC serves
        serving.close()

    commit_after = data.draw(st.lists(st.booleans(), min_size=1, max_size=8))
    open_digests: list[dict[str, str]] = []
    asyncio.run(serve())

    assert q1.digest() == q2.digest() == q3.digest() == q4.digest() == q5.digest() == open_digests[0]
    assert one_by_one.head == rebuilt.head == batched.head == catching_up.head == serving.head


@settings(max_examples=200, deadline=None)
@given(events=st.lists(room_event, max_size=50))
def test_live_unread_numbers_equal_the_servers(events: list[ev.RoomEvent]) -> None:
    """A client that applies the pushed events keeps every message's unread number equal to the
    number the server computes from membership and read positions."""
    projector, queries = _model()
    log = _log(events)
    applied = projector.apply_batch(log) if log else []
    book = UnreadBook()
    for a in sorted(applied, key=lambda a: (a.partition, a.seq)):
        book.apply(msgspec.json.decode(a.body, type=ClientEvent))
    for room_id in ROOMS:
        messages = queries.history_after(room_id, 0, 1000)
        counts = unread_counts(messages, queries.memberships(room_id))
        assert [queries.unread_count(room_id, m.seq, m.room_seq) for m in messages] == counts
        server = dict(zip((m.room_seq for m in messages), counts, strict=True))
        assert book.rooms.get(room_id, {}) == server, room_id
