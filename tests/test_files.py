"""Attachments survive a fire (docs/FILES.md): a file uploaded in chunks at dc1 is downloaded byte
for byte at dc2, dc3 and the rebuilt dc1 after dc1 burned; a half-finished upload is resumed and
completed at another DC; strangers get the same 404 as for no file; ranges and ETags work."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import httpx
import pytest
from PIL import Image

from firebreak.adapters import leadership
from firebreak.client import ApiError
from tests.helpers import (
    clients_of,
    cluster_config,
    code_of,
    eventually,
    fully_replicated,
    local_cluster,
    pinned,
    user,
)

CHUNK = 512 * 1024


def _noisy_png() -> bytes:
    """An image that does not compress: three upload chunks."""
    out = io.BytesIO()
    Image.frombytes("RGB", (800, 600), os.urandom(800 * 600 * 3)).save(out, "PNG")
    return out.getvalue()


async def _upload(
    http: httpx.AsyncClient, url: str, token: str, room: str, client_id: str, data: bytes, chunks: list[int]
) -> str:
    auth = {"authorization": f"Bearer {token}"}
    body = {
        "client_id": client_id,
        "room_id": room,
        "name": f"{client_id}.bin",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    started = await http.post(url + "/v1/uploads", json=body, headers=auth)
    assert started.status_code == 201, started.text
    upload_id: str = started.json()["upload_id"]
    for n in chunks:
        piece = data[n * CHUNK : (n + 1) * CHUNK]
        put = await http.put(f"{url}/v1/uploads/{upload_id}/chunks/{n}", content=piece, headers=auth)
        assert put.status_code == 200, put.text
    return upload_id


@pytest.mark.slow  # an outage proof of half a minute: the slow set (pyproject.toml)
async def test_an_acknowledged_upload_survives_the_burn_of_its_dc(tmp_path: Path) -> None:
    cluster = local_cluster(cluster_config(tmp_path / "data"))
    dc1, dc2, dc3 = (dc.http_url for dc in cluster.config.dcs)
    image = _noisy_png()
    other = os.urandom(2 * CHUNK + 1000)
    try:
        await cluster.start()
        async with clients_of(cluster) as make, httpx.AsyncClient(timeout=30) as http:
            alice, bob, carol = (
                await user(make, 0, "al"),
                await user(make, 0, "bo"),
                await user(make, 0, "ca"),
            )
            assert alice.user is not None and bob.user is not None
            room = (await alice.create_group("photos", [bob.user.username])).room_id
            token_a, token_b, token_c = (c.token or "" for c in (alice, bob, carol))
            auth_a = {"authorization": f"Bearer {token_a}"}

            upload = await _upload(http, dc1, token_a, room, "pic", image, [2, 0, 1])
            status = (await http.get(f"{dc1}/v1/uploads/{upload}", headers=auth_a)).json()
            assert status["received"] == [0, 1, 2] and status["chunks"] == 3
            done = await http.post(f"{dc1}/v1/uploads/{upload}/complete", headers=auth_a)
            assert done.status_code == 200, done.text
            view = done.json()
            assert (view["content_type"], view["width"], view["height"]) == ("image/png", 800, 600)
            assert view["sha256"] == hashlib.sha256(image).hexdigest() and view["has_thumb"]
            file_id = view["file_id"]
            again = await http.post(f"{dc1}/v1/uploads/{upload}/complete", headers=auth_a)
            assert again.json()["file_id"] == file_id, "completing again is the same file"

            # A chunk larger than the upload's chunks is refused before it is read; a client id
            # used again for another file is refused; neither changes the upload.
            big = await http.put(
                f"{dc1}/v1/uploads/{upload}/chunks/0", content=b"x" * (CHUNK + 1), headers=auth_a
            )
            assert code_of(big) == (413, "body_too_large")
            body = {"client_id": "pic", "room_id": room, "name": "other.bin", "size": 5}
            reused = await http.post(f"{dc1}/v1/uploads", json=body, headers=auth_a)
            assert code_of(reused) == (409, "client_id_reused")

            # Half an upload: one chunk of three, at dc1 only.
            half = await _upload(http, dc1, token_a, room, "half", other, [0])
            early = await http.post(f"{dc1}/v1/uploads/{half}/complete", headers=auth_a)
            assert code_of(early) == (409, "upload_incomplete")

            await eventually(lambda: fully_replicated(cluster.config), within_s=120, what="replicas current")
            cluster.kill("dc1", burn=True)

            for url, token in ((dc2, token_a), (dc3, token_b)):
                got = await http.get(
                    f"{url}/v1/files/{file_id}", headers={"authorization": f"Bearer {token}"}
                )
                assert got.status_code == 200 and got.content == image
                assert got.headers["content-type"] == "image/png"
                assert got.headers["x-content-type-options"] == "nosniff"
                assert got.headers["cache-control"].startswith("private")
            thumb = await http.get(f"{dc2}/v1/files/{file_id}/thumb", headers=auth_a)
            with Image.open(io.BytesIO(thumb.content)) as small:
                assert max(small.size) == 320

            # Ranges and caching.
            part = await http.get(f"{dc2}/v1/files/{file_id}", headers={**auth_a, "range": "bytes=100-199"})
            assert part.status_code == 206 and part.content == image[100:200]
            assert part.headers["content-range"] == f"bytes 100-199/{len(image)}"
            past = await http.get(f"{dc2}/v1/files/{file_id}", headers={**auth_a, "range": "bytes=99999999-"})
            assert code_of(past) == (416, "range_not_satisfiable")
            etag = part.headers["etag"]
            cached = await http.get(f"{dc3}/v1/files/{file_id}", headers={**auth_a, "if-none-match": etag})
            assert cached.status_code == 304 and cached.content == b""

            # A stranger learns nothing: the answer for an unknown file. An unknown id is first
            # checked against every partition's end, as its leader says; while the burned DC's
            # partitions elect (up to ~9 s) that is a retryable 503, not the answer being tested.
            async def every_stream_led() -> bool:
                try:
                    return all((await leadership.leaders(cluster.config)).values())
                except leadership.LEADERSHIP_ERRORS:
                    return False

            await eventually(every_stream_led, within_s=60, what="a leader for every stream")
            stranger = await http.get(
                f"{dc2}/v1/files/{file_id}", headers={"authorization": f"Bearer {token_c}"}
            )
            unknown = await http.get(
                f"{dc2}/v1/files/f_{'0' * 32}", headers={"authorization": f"Bearer {token_c}"}
            )
            assert code_of(stranger) == code_of(unknown) == (404, "unknown_file")
            assert stranger.json() == unknown.json()

            # The half-finished upload goes on at dc2 (the client library sends what the log lacks)
            # and is served whole at dc3.
            status = (await http.get(f"{dc2}/v1/uploads/{half}", headers=auth_a)).json()
            assert status["received"] == [0] and status["file_id"] is None
            finished = await alice.upload(room, other, "half.bin", client_id="half")
            assert finished.content_type == "application/octet-stream"
            other_id = finished.file_id

            # A message shows the files, at every DC; a file that is not the room's is refused.
            sent = await alice.send(room, "", attachments=[file_id, other_id])
            assert sent.message.attachments == [file_id, other_id]
            with pytest.raises(ApiError) as refused:
                await alice.send(room, "nope", attachments=["f_" + "1" * 32])
            assert refused.value.code == "invalid_attachments"
            seen = (await pinned(make, bob, 2).history(room)).messages[-1]
            assert seen.attachments == [file_id, other_id] and seen.text == ""
            assert await pinned(make, bob, 2).download(file_id, byte_range="bytes=-10") == image[-10:]
            got = await http.get(f"{dc3}/v1/files/{other_id}", headers={"authorization": f"Bearer {token_b}"})
            assert got.status_code == 200 and got.content == other
            assert got.headers["content-disposition"].startswith("attachment")

            # The rebuilt dc1 serves both, byte for byte.
            cluster.start_dc("dc1")
            await cluster.wait_ready(["dc1"], within_s=120)
            for fid, data in ((file_id, image), (other_id, other)):
                got = await http.get(f"{dc1}/v1/files/{fid}", headers={"authorization": f"Bearer {token_b}"})
                assert got.status_code == 200 and got.content == data
    finally:
        cluster.stop()
