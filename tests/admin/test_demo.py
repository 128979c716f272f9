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
    assert "@ana pediu permissão para ligar para +55 11 9••••-4321" in out
    thread = out.split("AskCall replies in the thread:")[1]
    assert "@ana ✅ O cliente permitiu ligações por 7 dias. Pode ligar até" in thread
    assert "✅ Pode ligar até" in thread.split("now shows:")[1]
    assert "<@" not in out and "<!date" not in out
    assert out.rstrip().endswith("✓ The customer's answer reached the thread. The demo worked.")


async def test_demo_in_english(tmp_path: Path) -> None:
    returncode, out, _ = await run_demo(tmp_path, "--language", "en")

    assert returncode == 0
    assert "@ana ✅ The customer allowed calls for 7 days." in out


async def test_the_language_defaults_to_askcall_language(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "ASKCALL_LANGUAGE": "en"}
    returncode, out, _ = await run_askcall("demo", env=env, cwd=tmp_path)

    assert returncode == 0
    assert "@ana ✅ The customer allowed calls for 7 days." in out


async def test_demo_call_without_aiortc_says_what_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked" / "aiortc"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError(\"No module named 'aiortc'\")\n")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(blocker.parent)}
    returncode, out, err = await run_askcall("demo", "--call", env=env, cwd=tmp_path)

    assert returncode == 1, out + err
    assert out.startswith("✗ `askcall demo --call` needs aiortc, which plays the customer's WhatsApp: ")
    assert "pip install 'askcall[demo]'" in out
    assert "@ana" not in out  # nothing started


async def test_open_and_port_go_with_call(tmp_path: Path) -> None:
    returncode, out, err = await run_demo(tmp_path, "--open")

    assert returncode == 2
    assert out == ""
    assert err == "askcall: --open and --port go with --call\n"
