"""Drawing generated images (Pillow): a demo title's poster, background and thumbnail on a
frame of its clip, and a profile's default avatar. Pure functions, bytes in and bytes out;
CPU-bound (10 to 30 ms each), so callers run them in a thread and cache what they return.
"""

from __future__ import annotations

import hashlib
import io
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

ArtworkKind = Literal["poster", "background", "thumbnail"]
SIZES: dict[ArtworkKind, tuple[int, int]] = {
    "poster": (400, 600),  # 2:3, as streaming posters are
    "background": (960, 540),
    "thumbnail": (480, 270),
}
AVATAR_SIZE = 128
JPEG_QUALITY = 82
# A palette that keeps white text readable: avatars and the fallback when no frame exists.
PALETTE = (
    (183, 28, 28),
    (21, 101, 192),
    (46, 125, 50),
    (106, 27, 154),
    (239, 108, 0),
    (0, 105, 92),
)


def _colour(seed: str) -> tuple[int, int, int]:
    return PALETTE[hashlib.sha256(seed.encode()).digest()[0] % len(PALETTE)]


def _cover(frame: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale until the frame covers ``size``, then crop the middle (no bars)."""
    width, height = size
    scale = max(width / frame.width, height / frame.height)
    scaled = frame.resize((round(frame.width * scale), round(frame.height * scale)))
    left, top = (scaled.width - width) // 2, (scaled.height - height) // 2
    return scaled.crop((left, top, left + width, top + height))


def _shade(image: Image.Image, start: float) -> None:
    """Darken from ``start`` (a fraction of the height) down, so the title stays readable."""
    draw = ImageDraw.Draw(image, "RGBA")
    top = int(image.height * start)
    for y in range(top, image.height):
        alpha = int(220 * (y - top) / max(1, image.height - top))
        draw.line([(0, y), (image.width, y)], fill=(0, 0, 0, alpha))


def _lines(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int
) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines[:4] or [""]


def _font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled font (its wheels ship FreeType), so no system font is needed."""
    font = ImageFont.load_default(size=size)
    assert isinstance(font, ImageFont.FreeTypeFont), "Pillow was built without FreeType"
    return font


def artwork(kind: ArtworkKind, name: str, frame_jpeg: bytes | None) -> bytes:
    """A ``kind`` image for a title called ``name``, drawn on ``frame_jpeg`` (a frame of its
    clip) or, without one, on a colour of its own."""
    size = SIZES[kind]
    if frame_jpeg is not None:
        with Image.open(io.BytesIO(frame_jpeg)) as frame:
            image = _cover(frame.convert("RGB"), size)
    else:
        image = Image.new("RGB", size, _colour(name))
    _shade(image, 0.45 if kind == "poster" else 0.5)
    draw = ImageDraw.Draw(image)
    margin = size[0] // 16
    font = _font(max(18, size[0] // (10 if kind == "poster" else 18)))
    lines = _lines(draw, name, font, size[0] - 2 * margin)
    line_height = font.size * 1.2
    y = size[1] - margin - line_height * len(lines)
    for line in lines:
        draw.text((margin, y), line, font=font, fill="white", stroke_width=1, stroke_fill="black")
        y += line_height
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def avatar(seed: str) -> bytes:
    """A profile's default avatar: a face on a colour picked by ``seed`` (the profile id)."""
    size = AVATAR_SIZE
    image = Image.new("RGB", (size, size), _colour(seed))
    draw = ImageDraw.Draw(image)
    eye = size // 10
    for x in (size * 0.35, size * 0.65):
        draw.ellipse(
            [x - eye / 2, size * 0.38 - eye / 2, x + eye / 2, size * 0.38 + eye / 2], fill="white"
        )
    draw.arc(
        [size * 0.28, size * 0.38, size * 0.72, size * 0.74],
        20,
        160,
        fill="white",
        width=size // 20,
    )
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
