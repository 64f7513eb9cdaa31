"""`firebreak chat` driven through a real terminal (a pty) against the shared three-DC cluster:
signing in and registering, messages and replies, rooms by number and name, room events, edit,
delete and search, Ctrl-C."""

from __future__ import annotations

import re
import secrets

from firebreak.localcluster import LocalCluster
from tests.chat_terminal import PASSWORD, TIME, line_of, signed_in, spawn_chat
from tests.helpers import ClientFactory, eventually, live


def tagged(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(3)}"


async def registered(make_client: ClientFactory, *names: str) -> None:
    for name in names:
        await make_client().register(name, PASSWORD)


async def test_registration_asks_twice_and_sign_in_tells_a_wrong_password(cluster: LocalCluster) -> None:
    name = tagged("newbie")
    term = spawn_chat(cluster, name, "dc2", password=None, register=True)
    try:
        await term.see("choose a password")
        term.type("a long password")
        await term.see("type it again")
        term.type("another password")
        await term.see("differ")
        await term.see("choose a password")
        term.type(PASSWORD)
        await term.see("type it again")
        term.type(PASSWORD)
        await term.see(f"registered {name}")
        await term.see(f"signed in as {name}")
        await term.quit()
    finally:
        term.close()

    term = spawn_chat(cluster, name, "dc1", password=None)
    try:
        await term.see(f"password for {name}")
        term.type("not my password")
        await term.see(f"wrong password for {name}")
        await term.see(f"password for {name}")
        term.type(PASSWORD)
        await term.see(f"signed in as {name}")
        await term.quit()
    finally:
        term.close()

    taken = spawn_chat(cluster, name, "dc3", register=True)
    try:
        await taken.see(f"there is already an account named {name!r}")
        assert (await taken.exit_status())[0] == 1
    finally:
        taken.close()
    nobody = spawn_chat(cluster, tagged("nobody"), "dc1")
    try:
        await nobody.see("--register")
        assert (await nobody.exit_status())[0] == 1
    finally:
        nobody.close()


async def test_two_people_chat_and_reply_goes_to_the_last_room(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    alice, bob = tagged("alice"), tagged("bob")
    await registered(make_client, alice, bob)
    a = await signed_in(cluster, alice, "dc1")
    b = await signed_in(cluster, bob, "dc3")
    try:
        a.type(f"/dm {bob}")
        await a.see(f"now chatting with 1 {bob}")
        a.type("hello bob, this is dc1")
        # shown once: the terminal's echo is erased and replaced by the message line
        await a.expect(re.escape("hello bob, this is dc1") + r"\r\n\x1b\[1A\r\x1b\[J")
        await a.expect(line_of(bob, "me", "hello bob, this is dc1") + " ✓")
        await b.expect(line_of(alice, alice, "hello bob, this is dc1"))
        await b.see(f"replies now go to room 1 {alice}")
        b.type("hi alice, dc3 here")  # no /dm: the reply goes to the room of the message received
        await a.expect(line_of(bob, bob, "hi alice, dc3 here"))
        a.type("/history")
        await a.expect(rf"#1 {TIME} me: hello bob, this is dc1  \(0 unread\)")
        mine = line_of(bob, "me", "hello bob, this is dc1")
        assert a.count(mine) == 1, "the live stream's copy of one's own message is not shown again"
        a.type("/nonsense")
        await a.see("unknown command /nonsense")
        await a.quit()
        await b.quit()
    finally:
        a.close()
        b.close()


async def test_rooms_by_number_and_name_members_and_room_events(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    alice, bob, carol = tagged("alice"), tagged("bob"), tagged("carol")
    await registered(make_client, bob, carol)
    bob_client = make_client(1)
    await bob_client.login(bob, PASSWORD)
    a = await signed_in(cluster, alice, "dc2", register=True)
    try:
        a.type(f"/dm {bob}")
        await a.see(f"now chatting with 1 {bob}")
        a.type(f"/group team {bob}")
        await a.see("now in room 2 team")
        await a.expect(rf"{TIME} \[team\] \* you created the group 'team' with {bob}")
        a.type("/rooms")
        await a.expect(rf"1  {bob}")
        await a.expect(r"2\* team")
        a.type("/open 9")
        await a.see("no room number 9 (your rooms: 1-2")
        a.type("/open x")
        await a.see("no room named 'x'")
        a.type("/open")
        await a.see("usage: /open NUMBER or /open NAME")

        dm = (await bob_client.open_direct(alice)).room_id
        await bob_client.send(dm, "are you there?")
        await a.expect(line_of(bob, bob, "are you there?"))
        await a.see(f"replies now go to room 1 {bob}")
        a.type("/open te")
        await a.see("now in room 2 team")
        a.type(f"/open {bob.upper()}")
        await a.see(f"now in room 1 {bob}")

        async def read_by_alice() -> bool:
            return (await bob_client.history(dm)).messages[-1].unread == 0

        await eventually(read_by_alice, what="opening the room to mark it read")

        a.type("/open 2")
        await a.see("now in room 2 team")
        a.type(f"/invite {carol}")
        await a.expect(rf"\[team\] \* you invited {carol}")
        a.type("/rename crew")
        await a.expect(r"\[crew\] \* you renamed the room to 'crew'")
        a.type("/members")
        await a.see(f"  {alice} (you)  online, read up to #0")
        await a.see(f"  {carol}  offline, read up to #0")
        group = next(r for r in (await bob_client.rooms()).rooms if r.name == "crew")
        await bob_client.leave(group.room_id)
        await a.expect(rf"\[crew\] \* {bob} left")
        await a.quit()
    finally:
        a.close()


async def test_ctrl_c_leaves_at_once(cluster: LocalCluster) -> None:
    name = tagged("quitter")
    term = await signed_in(cluster, name, "dc1", register=True)
    try:
        term.child.sendintr()  # the terminal's interrupt key: SIGINT to the foreground process
        status, took = await term.exit_status(within_s=10)
        assert status == 0
        assert took < 3, f"the chat took {took:.1f} s to leave after Ctrl-C"
    finally:
        term.close()


async def test_edit_delete_and_search(cluster: LocalCluster, make_client: ClientFactory) -> None:
    alice, bob = tagged("alice"), tagged("bob")
    await registered(make_client, alice, bob)
    a = await signed_in(cluster, alice, "dc1")
    b = await signed_in(cluster, bob, "dc2")
    try:
        a.type(f"/dm {bob}")
        await a.see(f"now chatting with 1 {bob}")
        a.type("dinner at seven, samgyeopsal?")
        await b.expect(line_of(alice, alice, "dinner at seven, samgyeopsal?"))
        a.type("/edit 1 dinner at eight, galbi?")
        await b.see(f"{alice} edited #1: dinner at eight, galbi?")
        a.type("/search galbi")
        await a.see("dinner at eight, [galbi]?")
        a.type("/delete 1")
        await b.see(f"{alice} deleted #1")
        b.type("/history")
        await b.expect(rf"#1 {TIME} {alice}: \(deleted\)")
        a.type("/search galbi")
        await a.see("nothing found for galbi")
        await a.quit()
        await b.quit()
    finally:
        a.close()
        b.close()


async def test_the_chat_shows_who_is_typing_and_who_comes_and_goes(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    alice, bob = tagged("alice"), tagged("bob")
    await registered(make_client, bob)
    bob_client = make_client(2)
    await bob_client.login(bob, PASSWORD)
    a = await signed_in(cluster, alice, "dc1", register=True)
    try:
        a.type(f"/dm {bob}")
        await a.see(f"now chatting with 1 {bob}")
        room = (await bob_client.open_direct(alice)).room_id
        await bob_client.typing(room)
        await a.see(f"  ({bob} is typing)")
        bob_live = live(cluster, bob_client, 2)
        await a.see(f"  ({bob} is online)")
        await bob_live.close()
        await a.see(f"  ({bob} went offline)")
        a.type("/members")
        await a.expect(rf"  {bob}  last seen {TIME}, read up to #0")
        await a.quit()
    finally:
        a.close()
