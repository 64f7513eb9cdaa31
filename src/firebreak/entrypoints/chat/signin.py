"""Signing in, or registering with ``--register``: before the chat starts, outside its event loop.

The password comes from ``FIREBREAK_PASSWORD`` or from a prompt that does not echo it (getpass),
never from the command line, where ``ps`` shows it to everyone on the machine. A new password is
asked twice. The prompts run in plain blocking code, so Ctrl-C at a prompt interrupts at once
(the chat then exits with 130, as an interrupted command does); each request runs in its own
short ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import getpass
import os
from collections.abc import Awaitable, Callable, Mapping
from functools import partial

from firebreak.client import ApiError, Client, Unreachable
from firebreak.wire.views import SessionView

PASSWORD_ENV = "FIREBREAK_PASSWORD"
ATTEMPTS = 3


class SignInFailed(Exception):
    """Signing in or registering did not work; the message tells the person what to do."""


Ask = Callable[[str], str]


def _run(urls: list[str], preferred: int, call: Callable[[Client], Awaitable[object]]) -> None:
    async def go() -> None:
        async with Client(urls, preferred=preferred, retry_deadline=20.0) as client:
            await call(client)

    asyncio.run(go())


def _login(urls: list[str], preferred: int, username: str, password: str) -> SessionView:
    result: list[SessionView] = []

    async def login(client: Client) -> None:
        result.append(await client.login(username, password))

    _run(urls, preferred, login)
    return result[0]


def _new_password(username: str, ask: Ask, say: Callable[[str], None]) -> str:
    for _ in range(ATTEMPTS):
        first = ask(f"choose a password for the new account {username} (8 or more characters): ")
        if first == ask("type it again: "):
            return first
        say("the two passwords differ; once more")
    raise SignInFailed("the passwords did not match; nothing was registered")


def sign_in(
    urls: list[str],
    preferred: int,
    username: str,
    *,
    register: bool,
    say: Callable[[str], None] = print,
    ask: Ask = getpass.getpass,
    env: Mapping[str, str] | None = None,
) -> SessionView:
    given = (os.environ if env is None else env).get(PASSWORD_ENV)
    try:
        if register:
            password = _register(urls, preferred, username, given, ask, say)
            return _login(urls, preferred, username, password)
        for attempt in range(1 if given else ATTEMPTS):
            password = given or ask(f"password for {username}: ")
            try:
                return _login(urls, preferred, username, password)
            except ApiError as exc:
                if exc.code != "bad_credentials":
                    raise
                if attempt + 1 < ATTEMPTS and not given:
                    say(f"wrong password for {username}, or no such account; try again")
        raise SignInFailed(
            f"wrong password for {username!r}, or there is no account named {username!r} (the server "
            f"does not say which). A new account: firebreak chat --user {username} --register"
        )
    except Unreachable as exc:
        raise SignInFailed(f"no DC answers ({exc.message}); is the cluster up? (./firebreak up)") from exc
    except ApiError as exc:
        raise SignInFailed(f"{exc.message} ({exc.code})") from exc


async def _create(client: Client, *, username: str, password: str) -> None:
    await client.register(username, password)


def _register(
    urls: list[str], preferred: int, username: str, given: str | None, ask: Ask, say: Callable[[str], None]
) -> str:
    for _ in range(1 if given else ATTEMPTS):
        password = given or _new_password(username, ask, say)
        try:
            _run(urls, preferred, partial(_create, username=username, password=password))
        except ApiError as exc:
            if exc.code == "username_taken":
                raise SignInFailed(
                    f"there is already an account named {username!r}. If it is yours, sign in "
                    f"without --register: firebreak chat --user {username}"
                ) from exc
            if exc.code != "invalid_password" or given:
                raise
            say(f"{exc.message}; once more")
            continue
        say(f"registered {username}")
        return password
    raise SignInFailed("no acceptable password was given; nothing was registered")
