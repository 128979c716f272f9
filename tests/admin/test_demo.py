"""`askcall demo` as a user runs it: a fresh process, no configuration at all."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli_process import run_askcall


async def run_demo(home: Path, *args: str) -> tuple[int | None, str, str]:
    """`askcall demo` in a bare environment (no settings at all); (exit status, stdout, stderr)."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home)}
    return await run_askcall("demo", *args, env=env, cwd=home)


async def test_demo_runs_the_whole_loop_without_any_setting(tmp_path: Path) -> None:
    returncode, out, err = await run_demo(tmp_path)

    assert returncode == 0, out + err
    assert "/askcall +55 11 98765-4321 Podemos te ligar para fechar o pedido?" in out
    # The channel message, the thread reply and the new status, as the rep reads them.
    assert "@rep pediu permissão para ligar para +55 11 9••••-4321" in out
    thread = out.split("AskCall replies in the thread:")[1]
    assert "@rep ✅ O cliente permitiu ligações por 7 dias. Pode ligar até" in thread
    assert "✅ Pode ligar até" in thread.split("now shows:")[1]
    assert "<@" not in out and "<!date" not in out
    assert out.rstrip().endswith("✓ The customer's answer reached the thread. The demo worked.")


async def test_demo_in_english(tmp_path: Path) -> None:
    returncode, out, _ = await run_demo(tmp_path, "--language", "en")

    assert returncode == 0
    assert "@rep ✅ The customer allowed calls for 7 days." in out
