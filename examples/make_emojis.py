"""Regenerate examples/emojis/: 64x64 RGBA PNGs of Noto Color Emoji glyphs, one sub-folder per
category (the folder loader takes sub-folder names as labels).

Needs the Noto Color Emoji font (Debian: apt-get install fonts-noto-color-emoji). Noto Emoji's
images are under the Apache License 2.0 (https://github.com/googlefonts/noto-emoji).

    python examples/make_emojis.py [FONT]
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
CATEGORIES = {
    "faces": list(range(0x1F600, 0x1F638)),
    "animals": list(range(0x1F400, 0x1F43D)),
    "food": list(range(0x1F345, 0x1F37C)),
}
SIZE = 64


def render(font: ImageFont.FreeTypeFont, code: int) -> Image.Image | None:
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((10, 10), chr(code), font=font, embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        return None
    return canvas.crop(box).resize((SIZE, SIZE), Image.LANCZOS)  # glyphs are square already


def main() -> None:
    font = ImageFont.truetype(sys.argv[1] if len(sys.argv) > 1 else FONT, 109)  # its only bitmap size
    root = Path(__file__).parent / "emojis"
    for category, codes in CATEGORIES.items():
        (root / category).mkdir(parents=True, exist_ok=True)
        for code in codes:
            image = render(font, code)
            if image is not None:
                image.save(root / category / f"u{code:x}.png", optimize=True)


if __name__ == "__main__":
    main()
