"""Attachments' routes (docs/FILES.md): uploads in chunks, and downloads with ranges and caching."""

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import Response

from firebreak.domain.files import INLINE_TYPES, RangeNotSatisfiable, parse_range
from firebreak.entrypoints.gateway import body_params as bodies
from firebreak.entrypoints.gateway import boundary
from firebreak.service.auth import TokenClaims
from firebreak.service.files import Files
from firebreak.wire.file_views import ChunkResult, FileView, UploadView

#: The path whose bodies may be as large as an upload chunk (the Gatekeeper's other limit).
CHUNK_PATH = re.compile(r"/v1/uploads/[^/]+/chunks/[^/]+")

_BYTES = {"schema": {"type": "string", "format": "binary"}}


def _binary(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": description, "content": {"application/octet-stream": _BYTES}}}


_DOWNLOAD_DOCS: dict[int | str, dict[str, Any]] = {
    **_binary(200, "The file's bytes, with its sniffed Content-Type, ETag and Accept-Ranges"),
    **_binary(206, "The one byte range asked for (Content-Range)"),
    304: {"description": "Not modified: If-None-Match named the file's ETag"},
    **boundary.errors(404, 416),
}


def add_file_routes(app: FastAPI, files: Files, auth: Callable[..., Awaitable[TokenClaims]]) -> None:
    Me = Annotated[TokenClaims, Depends(auth)]

    @app.post(
        "/v1/uploads",
        responses=boundary.doc(UploadView, 201) | boundary.errors(404, 409, 413, 429),
        status_code=201,
    )
    async def start_upload(me: Me, body: bodies.Upload) -> Response:
        view = await files.start(me.user_id, body.client_id, body.room_id, body.name, body.size, body.sha256)
        return boundary.reply(view, 201)

    @app.get("/v1/uploads/{upload_id}", responses=boundary.doc(UploadView) | boundary.errors(404))
    async def upload_status(me: Me, upload_id: str) -> Response:
        return boundary.reply(await files.status(me.user_id, upload_id))

    @app.put(
        "/v1/uploads/{upload_id}/chunks/{index}",
        responses=boundary.doc(ChunkResult) | boundary.errors(400, 404, 413),
        openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": _BYTES}}},
    )
    async def put_chunk(me: Me, upload_id: str, index: int, request: Request) -> Response:
        data = await request.body()
        return boundary.reply(await files.put_chunk(me.user_id, upload_id, index, data))

    @app.post(
        "/v1/uploads/{upload_id}/complete",
        responses=boundary.doc(FileView) | boundary.errors(404, 409),
    )
    async def complete_upload(me: Me, upload_id: str) -> Response:
        return boundary.reply(await files.complete(me.user_id, upload_id))

    @app.get("/v1/files/{file_id}/info", responses=boundary.doc(FileView) | boundary.errors(404))
    async def file_info(me: Me, file_id: str) -> Response:
        return boundary.reply(await files.info(me.user_id, file_id))

    async def download(me: str, file_id: str, thumb: bool, range_: str | None, etag: str | None) -> Response:
        row, data = await files.content(me, file_id, thumb)
        tag = f'"{row.sha256}{"-t" if thumb else ""}"'
        kind = row.thumb_type if thumb else row.content_type
        headers = {
            "ETag": tag,
            # Private: only the room's members may see it, so no shared cache may keep it.
            "Cache-Control": "private, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
            "Accept-Ranges": "bytes",
            "Content-Disposition": (
                f"{'inline' if kind in INLINE_TYPES else 'attachment'}; filename*=UTF-8''{quote(row.name)}"
            ),
        }
        if etag is not None and tag in [t.strip() for t in etag.split(",")]:
            return Response(status_code=304, headers=headers)
        try:
            wanted = parse_range(range_, len(data))
        except RangeNotSatisfiable as exc:
            answer = boundary.error_response(exc.status, exc.code, exc.message)
            answer.headers["Content-Range"] = f"bytes */{len(data)}"
            return answer
        if wanted is None:
            return Response(content=data, media_type=kind, headers=headers)
        headers["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{len(data)}"
        body = data[wanted.start : wanted.end + 1]
        return Response(content=body, status_code=206, media_type=kind, headers=headers)

    @app.get("/v1/files/{file_id}", responses=_DOWNLOAD_DOCS)
    async def get_file(
        me: Me,
        file_id: str,
        range_: Annotated[str | None, Header(alias="range")] = None,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        return await download(me.user_id, file_id, False, range_, if_none_match)

    @app.get("/v1/files/{file_id}/thumb", responses=_DOWNLOAD_DOCS)
    async def get_thumb(
        me: Me,
        file_id: str,
        range_: Annotated[str | None, Header(alias="range")] = None,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        return await download(me.user_id, file_id, True, range_, if_none_match)
