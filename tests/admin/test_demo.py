"""`askcall demo` as a user runs it: a fresh process, no configuration at all."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path


async def test_demo_runs_the_whole_loop_without_any_setting(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "demo",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    out = stdout.decode()

    assert proc.returncode == 0, out + stderr.decode()
    assert "/askcall +55 11 98765-4321 Podemos te ligar para fechar o pedido?" in out
    # The channel message, the thread reply and the new status, as the rep reads them.
    assert "@rep pediu permissão para ligar para +55 11 9••••-4321" in out
    thread = out.split("AskCall replies in the thread:")[1]
    assert "@rep ✅ O cliente permitiu ligações por 7 dias. Pode ligar até" in thread
    assert "✅ Pode ligar até" in thread.split("now shows:")[1]
    assert "<@" not in out and "<!date" not in out
    assert out.rstrip().endswith("✓ The customer's answer reached the thread. The demo worked.")


async def test_demo_in_english(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "demo",
        "--language",
        "en",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(proc.communicate(), 60)

    assert proc.returncode == 0
    assert "@rep ✅ The customer allowed calls for 7 days." in stdout.decode()
