"""Headless Chromium for the call tests: Debian's package driven by Playwright (never ``playwright install``).

Invariant: the browser gets no ICE server, a fresh profile (Playwright's own temporary one), no background
networking, a fake microphone and camera that a page may use only where its context was granted the permission
(``new_context(permissions=MICROPHONE)``; elsewhere Chromium refuses it, as for a rep who said no), and loopback
ICE candidates allowed; with Chromium missing, a test using it fails under CI (``CI`` set) and is skipped
elsewhere, never silently passed.
"""

from __future__ import annotations

import math
import os
import socket
import struct
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = Path(os.environ.get("ASKCALL_CHROMIUM", "/usr/bin/chromium"))
# Playwright adds --headless and --no-sandbox itself (headless=True, chromium_sandbox=False).
CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
]
MICROPHONE = ["microphone"]  # the permission a context needs for the page to use the (fake) microphone
MIC_TONE_HZ = 660
INBOUND_AUDIO = """async () => {
  const stats = await window.askcallCall.pc.getStats();
  for (const report of stats.values()) {
    if (report.type === "inbound-rtp" && report.kind === "audio") {
      const codec = report.codecId ? stats.get(report.codecId) : null;
      return {packets: report.packetsReceived || 0, samples: report.totalSamplesReceived || 0,
              codec: codec ? codec.mimeType : null};
    }
  }
  return {packets: 0, samples: 0, codec: null};
}"""
# Installed before the page's own script: every state [data-testid=call-state] goes through, in order, however short.
STATE_RECORDER = """window.__states = [];
document.addEventListener("DOMContentLoaded", () => {
  const node = document.querySelector('[data-testid="call-state"]');
  const record = () => {
    if (window.__states[window.__states.length - 1] !== node.textContent) window.__states.push(node.textContent);
  };
  record();
  new MutationObserver(record).observe(node, {childList: true, characterData: true, subtree: true});
});"""


def require_chromium(path: Path = CHROMIUM, *, ci: bool | None = None) -> None:
    """Fail (under CI) or skip (elsewhere) unless the Chromium binary exists."""
    if path.exists():
        return
    message = f"{path} is missing: `apt-get install -y chromium` installs it (.ci/run does)"
    if bool(os.environ.get("CI")) if ci is None else ci:
        pytest.fail(message + "; CI must run the browser tests")
    pytest.skip(message)


def loopback_only_network() -> bool:
    """True inside a network namespace whose only interface is ``lo`` (``unshare -rn``)."""
    return {name for _index, name in socket.if_nameindex()} == {"lo"}


def write_tone_wav(path: Path, frequency: int = MIC_TONE_HZ, seconds: float = 1.0, rate: int = 48_000) -> Path:
    """A mono 16-bit WAV of a sine tone: Chromium loops it as the fake microphone."""
    samples = int(rate * seconds)
    frames = b"".join(
        struct.pack("<h", int(12_000 * math.sin(2 * math.pi * frequency * n / rate))) for n in range(samples)
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


@asynccontextmanager
async def chromium(workdir: Path) -> AsyncIterator[Browser]:
    """A headless Chromium (fresh temporary profile, made by Playwright) with a tone as the microphone.

    Give each test its own ``browser.new_context(permissions=MICROPHONE)``: contexts share nothing (cookies,
    storage, permissions).
    """
    require_chromium()
    mic = write_tone_wav(workdir / "mic.wav")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            chromium_sandbox=False,
            args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={mic}"],
        )
        try:
            yield browser
        finally:
            await browser.close()


async def states(page: Page) -> list[str]:
    recorded: list[str] = await page.evaluate("window.__states")
    return recorded


async def inbound_audio(page: Page, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
    """The page's inbound-rtp audio counters, once samples have been received (or the last reading)."""
    deadline = time.monotonic() + timeout
    while True:
        stats: dict[str, Any] = await page.evaluate(INBOUND_AUDIO)
        if stats["samples"] > 0 or time.monotonic() > deadline:
            return stats
        await page.wait_for_timeout(100)
