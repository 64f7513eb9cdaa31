"""`firebreak chat` with files (docs/FILES.md): /attach sends a photo, the other side sees its name,
type and dimensions, and /save downloads the same bytes at another DC."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image

from firebreak.localcluster import LocalCluster
from tests.chat_terminal import signed_in
from tests.helpers import ClientFactory, eventually
from tests.test_terminal_chat import registered, tagged


async def test_attach_and_save(cluster: LocalCluster, make_client: ClientFactory, tmp_path: Path) -> None:
    alice, bob = tagged("alice"), tagged("bob")
    await registered(make_client, alice, bob)
    photo = tmp_path / "seoul tower.png"
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(out, "PNG")
    photo.write_bytes(out.getvalue())
    saved = tmp_path / "saved"
    saved.mkdir()
    a = await signed_in(cluster, alice, "dc1")
    b = await signed_in(cluster, bob, "dc2")
    try:
        a.type(f"/dm {bob}")
        await a.see(f"now chatting with 1 {bob}")
        a.type(f"/attach {photo}")
        await a.see("sent #1 seoul tower.png")
        shown = await b.expect(r"\[file: seoul tower\.png \([0-9.]+ B, image/png, 40x30\) f_[0-9a-f]{32}\]")
        file_id = re.findall(r"f_[0-9a-f]{32}", shown)[0]
        b.type(f"/save {file_id} {saved}")
        await b.see(f"saved {saved / 'seoul tower.png'}")

        async def same() -> bool:
            target = saved / "seoul tower.png"
            return target.exists() and target.read_bytes() == photo.read_bytes()

        await eventually(same, what="the saved file")
        b.type("/history")
        await b.expect(r"#1 \d\d:\d\d .*\[file: seoul tower\.png")
        await a.quit()
        await b.quit()
    finally:
        a.close()
        b.close()
