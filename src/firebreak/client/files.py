"""The client's calls for attachments (docs/FILES.md): a resumable upload, and downloads.

An upload's id derives from the client's id for it, so :meth:`FileCalls.upload` can be called
again after any failure, at any DC, with the same ``client_id``: it asks which chunks the log
already holds and sends only the rest.
"""

from __future__ import annotations

import hashlib

import msgspec

from firebreak.client.transport import Transport, new_id
from firebreak.wire.file_views import ChunkResult, FileView, UploadView
from firebreak.wire.requests import UploadBody


class FileCalls(Transport):
    async def upload(self, room_id: str, data: bytes, name: str, client_id: str | None = None) -> FileView:
        """Uploads ``data`` as a file of the room, in chunks, resuming what the log already has;
        answers the stored file (its type sniffed by the server, a thumbnail for images)."""
        body = UploadBody(
            client_id=client_id or new_id(),
            room_id=room_id,
            name=name,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        upload = await self.request("POST", "/v1/uploads", body, type=UploadView)
        if upload.file_id is None:
            size = upload.chunk_bytes
            for index in sorted(set(range(upload.chunks)) - set(upload.received)):
                await self.put_chunk(upload.upload_id, index, data[index * size : (index + 1) * size])
        return await self.request("POST", f"/v1/uploads/{upload.upload_id}/complete", type=FileView)

    async def put_chunk(self, upload_id: str, index: int, data: bytes) -> ChunkResult:
        resp = await self.request_bytes("PUT", f"/v1/uploads/{upload_id}/chunks/{index}", data)
        return msgspec.json.decode(resp.content, type=ChunkResult)

    async def upload_status(self, upload_id: str) -> UploadView:
        return await self.request("GET", f"/v1/uploads/{upload_id}", type=UploadView)

    async def file_info(self, file_id: str) -> FileView:
        return await self.request("GET", f"/v1/files/{file_id}/info", type=FileView)

    async def download(self, file_id: str, *, thumb: bool = False, byte_range: str | None = None) -> bytes:
        """The file's bytes (or its thumbnail's), whole or the ``Range`` asked (e.g. "bytes=0-99")."""
        path = f"/v1/files/{file_id}" + ("/thumb" if thumb else "")
        resp = await self.request_bytes("GET", path, headers={"range": byte_range} if byte_range else None)
        return resp.content
