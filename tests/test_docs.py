"""The README's pictures: each image it shows is in the repository, a small PNG made by a script it names."""

from __future__ import annotations

import re
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAX_BYTES = 200 * 1024


def test_the_readme_shows_the_call_page_at_laptop_and_phone_width() -> None:
    images = re.findall(r'<img src="([^"]+)"', README)
    assert images == ["docs/call-page.png", "docs/call-page-phone.png"]
    sizes = []
    for name in images:
        data = (ROOT / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert len(data) < MAX_BYTES, f"{name}: {len(data)} bytes"
        sizes.append(struct.unpack(">II", data[16:24]))  # the IHDR chunk: width, height
    (laptop_width, _), (phone_width, phone_height) = sizes
    assert laptop_width >= 1024 * 2 and phone_width == 390 * 2 and phone_height > phone_width


def test_the_script_that_makes_them_is_documented() -> None:
    assert "python -m docs.screenshots" in README
    script = (ROOT / "docs" / "screenshots.py").read_text(encoding="utf-8")
    assert '"call-page.png"' in script and '"call-page-phone.png"' in script
    from docs import screenshots
    from tests.calls import browser

    assert screenshots.chromium is browser.chromium  # the browser tests' headless Chromium
    assert screenshots.MICROPHONE is browser.MICROPHONE  # with the microphone allowed, or the call fails
