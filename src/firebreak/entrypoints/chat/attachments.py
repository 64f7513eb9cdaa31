"""The chat's files (docs/FILES.md): ``/attach PATH`` uploads a file to the current room and sends
it as a message; ``/save FILE_ID [DIR]`` downloads one; messages show their files by name."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from firebreak.client import Client
from firebreak.client.transport import new_id
from firebreak.errors import FirebreakError

if TYPE_CHECKING:
    from .commands import Chat


def size_text(size: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} B"


async def describe(client: Client, file_ids: list[str]) -> str:
    """ " [file: name (size, type) id]" for each file, or "" for none."""
    parts = []
    for file_id in file_ids:
        try:
            f = await client.file_info(file_id)
            shape = f", {f.width}x{f.height}" if f.width else ""
            parts.append(f" [file: {f.name} ({size_text(f.size)}, {f.content_type}{shape}) {f.file_id}]")
        except FirebreakError:
            parts.append(f" [file {file_id}]")
    return "".join(parts)


async def attach(chat: Chat, arg: str) -> None:
    assert chat.room is not None
    path = await asyncio.to_thread(lambda: Path(arg).expanduser())
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        chat.screen.notice(f"cannot read {path}: {exc.strerror}")
        return
    room = chat.room
    chat.screen.notice(f"uploading {path.name} ({size_text(len(data))}) to {room.title} ...")
    stored = await chat.client.upload(room.room_id, data, path.name, client_id=new_id())
    sent = await chat.client.send(room.room_id, "", attachments=[stored.file_id])
    chat.outbox.mine.add(sent.message.client_id)
    shape = f", {stored.width}x{stored.height}" if stored.width else ""
    what = f"{stored.name} ({size_text(stored.size)}, {stored.content_type}{shape})"
    chat.screen.notice(f"sent #{sent.message.room_seq} {what}")


async def save(chat: Chat, arg: str) -> None:
    file_id, _, folder = arg.partition(" ")
    info = await chat.client.file_info(file_id)
    where = await asyncio.to_thread(lambda: Path(folder.strip() or ".").expanduser())
    target = where / Path(info.name).name
    data = await chat.client.download(file_id)
    await asyncio.to_thread(target.write_bytes, data)
    chat.screen.notice(f"saved {target} ({size_text(len(data))})")
