"""The web app's attachments (docs/FILES.md): the attach button sends a photo; the other person's
tab, served by another DC, shows its thumbnail (fetched with the token, shown from a blob: URL)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.helpers import eventually
from tests.test_web_app import People, _has, people, web_cluster  # noqa: F401 (fixtures)
from tests.web_pages import axe_violations, dialog, open_room


async def test_a_photo_is_sent_and_shown_with_its_thumbnail(people: People, tmp_path: Path) -> None:  # noqa: F811
    alice, bob = people.alice, people.bob
    photo = tmp_path / "han river.png"
    out = io.BytesIO()
    Image.new("RGB", (800, 400), (30, 140, 90)).save(out, "PNG")
    photo.write_bytes(out.getvalue())
    await dialog(alice, "#new-group", "Photos", people.bob_name)
    await eventually(lambda: _has(bob, "#rooms", "Photos"), what="bob's list shows the group")
    await open_room(bob, "Photos")
    await alice.set_input_files("#file", str(photo))

    async def thumbnail_shown() -> bool:
        img = bob.locator("#msg-list .files img").last
        if not await img.count():
            return False
        loaded = await img.evaluate("i => i.complete && i.naturalWidth")
        return bool(loaded == 320 and (await img.get_attribute("src") or "").startswith("blob:"))

    await eventually(thumbnail_shown, what="bob sees the thumbnail")
    assert await bob.locator("#msg-list .files img").last.get_attribute("alt") == "han river.png"
    assert await axe_violations(bob) == [], "a room with a photo"
