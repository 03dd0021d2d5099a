"""Decoding a fetched thumbnail: is it an image we keep, and what are its SHA-256 and its
perceptual hash (ImageHash's 64-bit pHash). Pillow and ImageHash load on first use, so pages
that only read kept thumbnails never import numpy."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

# A "thumbnail" bigger than this is not one; refusing it before decoding also keeps a
# decompression bomb from ever being expanded.
MAX_PIXELS = 4096 * 4096
FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
    "BMP": ("bmp", "image/bmp"),
}


@dataclass(frozen=True, slots=True)
class Decoded:
    """A verified image: its bytes, content hash, perceptual hash and file type."""

    data: bytes
    sha256: str
    phash: str
    ext: str
    content_type: str


def inspect_image(data: bytes) -> Decoded:
    """Decode ``data`` as an image; ``ValueError`` when it is not one we keep."""
    # Imported here: pages that only read kept thumbnails need not load numpy and Pillow.
    import imagehash
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(io.BytesIO(data)) as im:
            if im.format not in FORMATS:
                raise ValueError(f"unsupported image format {im.format}")
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise ValueError(f"{width}x{height} is too large for a thumbnail")
            im.load()
            phash = str(imagehash.phash(im.convert("RGB")))
            ext, content_type = FORMATS[im.format]
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"not an image: {exc}") from None
    return Decoded(data, hashlib.sha256(data).hexdigest(), phash, ext, content_type)
