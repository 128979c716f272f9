"""The README's pictures of the call page, made with the headless Chromium the browser tests use.

Runs `askcall demo --call` (AskCall with the loopback fakes), follows the printed link in Debian's Chromium
(/usr/bin/chromium, driven by Playwright, a tone as the microphone), presses call, and once the fake customer has
answered and the call has run a few seconds, takes the page at laptop and at phone width. Nothing leaves loopback.

Run it from the repository root, with the test extra installed:

    .venv/bin/python -m docs.screenshots            # writes docs/call-page.png and docs/call-page-phone.png
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import tempfile
from pathlib import Path

from playwright.async_api import expect

from tests.calls.browser import CHROMIUM, MICROPHONE, chromium

LINK_RE = re.compile(r"^\s+(http://127\.0\.0\.1:\d+/call/[A-Za-z0-9_-]+)$")
LAPTOP = {"width": 1024, "height": 640}
PHONE = {"width": 390, "height": 720}
SCALE = 2  # crisp on high-density screens; the README shows them at half their pixel size
IN_CALL = 4_300  # ms after "connected": the timer shows 0:04


async def _link(demo: asyncio.subprocess.Process) -> str:
    assert demo.stdout is not None
    seen: list[str] = []
    while line := (await asyncio.wait_for(demo.stdout.readline(), 30)).decode():
        seen.append(line)
        found = LINK_RE.match(line.rstrip("\n"))
        if found:
            return found.group(1)
    raise SystemExit("askcall demo --call printed no link:\n" + "".join(seen))


async def take(out: Path, language: str) -> list[Path]:
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: `apt-get install -y chromium` installs it")
    demo = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "demo",
        "--call",
        "--language",
        language,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        link = await _link(demo)
        with tempfile.TemporaryDirectory(prefix="askcall-shots-") as folder:
            async with chromium(Path(folder)) as browser:
                context = await browser.new_context(
                    permissions=MICROPHONE,  # the rep allowed the microphone
                    viewport=LAPTOP,
                    device_scale_factor=SCALE,
                    locale=language,
                    timezone_id="America/Sao_Paulo",
                    color_scheme="light",
                )
                page = await context.new_page()
                await page.goto(link)
                await page.get_by_test_id("call").click()
                await expect(page.get_by_test_id("call-state")).to_have_text("connected", timeout=15_000)
                await page.wait_for_timeout(IN_CALL)
                laptop, phone = out / "call-page.png", out / "call-page-phone.png"
                await page.screenshot(path=laptop)
                await page.set_viewport_size(PHONE)
                await page.screenshot(path=phone)
                await page.get_by_test_id("hangup").click()
    finally:
        if demo.returncode is None:
            demo.send_signal(signal.SIGINT)
        await demo.wait()
    return [laptop, phone]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent, help="folder for the PNGs (docs/)")
    parser.add_argument("--language", choices=["pt-BR", "en"], default="pt-BR")
    args = parser.parse_args()
    for path in asyncio.run(take(args.out, args.language)):
        print(f"{path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
