"""Images' dimensions and thumbnails, with Pillow (docs/FILES.md). Made once, when an upload
completes; the thumbnail is stored beside the file and served like it."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from firebreak.domain.files import MAX_IMAGE_PIXELS, THUMB_MAX_PX


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    #: JPEG (or PNG for images with transparency) at most THUMB_MAX_PX on its longer side; None
    #: when the bytes could not be decoded as the image their signature claims.
    thumb: bytes | None
    thumb_type: str


def inspect_image(data: bytes) -> ImageInfo | None:
    """Dimensions and a thumbnail of an image, or None if Pillow cannot read it (a file whose
    first bytes look like an image but are not one is then stored as a plain file)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                return ImageInfo(width, height, None, "")
            img.load()
            # Phones store the camera's orientation as an EXIF tag; the thumbnail shows it upright.
            shown = ImageOps.exif_transpose(img)
            if shown.width != width or shown.height != height:
                width, height = shown.size
            shown.thumbnail((THUMB_MAX_PX, THUMB_MAX_PX))
            alpha = shown.mode in ("RGBA", "LA", "PA") or "transparency" in shown.info
            out = io.BytesIO()
            if alpha:
                shown.convert("RGBA").save(out, format="PNG", optimize=True)
                kind = "image/png"
            else:
                shown.convert("RGB").save(out, format="JPEG", quality=80)
                kind = "image/jpeg"
            return ImageInfo(width, height, out.getvalue(), kind)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
