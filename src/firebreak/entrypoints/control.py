"""The local supervisor's control socket: how ``firebreak dc ...`` and the gateways' ops API reach
the ``firebreak up`` that runs a local cluster.

A Unix socket at ``<data_dir>/control.sock``, mode 0600 (only the user who ran ``up`` can act on
its processes). One JSON request line, one JSON answer line, then the connection closes:
``{"action": "status"}`` or ``{"action": "stop", "dc": "dc1", "wait": true}``; the answer is
``{"ok": {...}}`` or ``{"error": {"code": ..., "message": ..., "status": ...}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from firebreak.config import Config
from firebreak.errors import Conflict, FirebreakError

#: The longest path a Unix socket can be bound to on Linux (sun_path is 108 bytes with its NUL).
MAX_SOCKET_PATH = 107

#: Actions on a DC's processes: only a supervisor (``up``) can do them.
PROCESS_ACTIONS = ("stop", "start", "burn", "rebuild")
#: Actions on a DC's links to the other DCs: with isolated DCs (``up --isolated-dcs``) or link
#: proxies (``up --link-...``); ``link`` (delay, jitter, loss) only with link proxies.
LINK_ACTIONS = ("cut", "heal", "link")
#: Every action on one DC.
DC_ACTIONS = (*PROCESS_ACTIONS, "evacuate", *LINK_ACTIONS)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def socket_path(config: Config) -> Path:
    return config.data_dir.resolve() / "control.sock"


class NoSupervisor(FirebreakError):
    """No ``firebreak up`` answers for this cluster's data folder."""

    code = "no_supervisor"
    status = 501


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


def _remove_stale(path: Path) -> None:
    """Removes a socket left by an ``up`` that was killed (preflight found nobody answering on it)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


async def serve(path: Path, handle: Handler) -> asyncio.Server | None:
    """Serves ``handle`` on ``path`` (mode 0600); None when the path is too long to bind."""
    if len(str(path)) > MAX_SOCKET_PATH:
        return None
    _remove_stale(path)

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(await reader.readline())
            if not isinstance(request, dict):
                raise FirebreakError("a request is a JSON object", code="bad_request", status=400)
            answer: dict[str, Any] = {"ok": await handle(request)}
        except FirebreakError as exc:
            answer = {"error": {"code": exc.code, "message": exc.message, "status": exc.status}}
        except (ValueError, UnicodeDecodeError) as exc:
            answer = {"error": {"code": "bad_request", "message": str(exc), "status": 400}}
        # The asker may be gone (a gateway stopped by its own request): the action still ran.
        with contextlib.suppress(ConnectionError):
            writer.write(_encode(answer))
            await writer.drain()
            writer.close()

    # Created 0600 from the start (umask), so no other user can connect between bind and chmod.
    old = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(on_connect, path=str(path), limit=1 << 20)
    finally:
        os.umask(old)
    return server


async def call(config: Config, request: dict[str, Any], timeout_s: float = 300.0) -> dict[str, Any]:
    """Sends one request to the cluster's supervisor and returns its ``ok`` answer.

    Raises :class:`NoSupervisor` when no ``firebreak up`` runs for the config's data folder, and
    the supervisor's error (code, status, message) when it refused.
    """
    path = socket_path(config)
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 20)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise NoSupervisor(
            f"no 'firebreak up' runs for the data folder {config.data_dir.resolve()} "
            f"(nothing answers on {path}): start one, or pass the --config/--data-dir it was started with"
        ) from exc
    except OSError as exc:
        raise NoSupervisor(f"cannot reach the supervisor at {path}: {exc}") from exc
    try:
        writer.write(_encode(request))
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout_s)
    finally:
        writer.close()
    if not line:
        raise Conflict("the supervisor closed the connection without an answer", code="no_answer")
    answer = json.loads(line)
    if "error" in answer:
        err = answer["error"]
        raise FirebreakError(err["message"], code=err["code"], status=int(err["status"]))
    result: dict[str, Any] = answer["ok"]
    return result
