"""`askcall demo` as a user runs it: a fresh process, no configuration at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.i18n import Translator
from tests.cli_process import run_askcall

PT, EN = Translator("pt-BR"), Translator("en")


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
    thread = out.split(PT.t("demo.replies"))[1]
    assert "@ana ✅ O cliente permitiu ligações por 7 dias. Pode ligar até" in thread
    assert "✅ Pode ligar até" in thread.split(PT.t("demo.now_shows", channel="sales"))[1]
    assert "<@" not in out and "<!date" not in out
    assert out.rstrip().endswith(PT.t("demo.worked"))


# Every line the demo itself says around the Slack messages, in each language (the messages come from the app).
NARRATION = ["demo.intro", "demo.asks", "demo.customer_allows", "demo.replies", "demo.worked"]
NARRATION_WITH = {"demo.types": {"rep": "ana", "channel": "sales"}, "demo.posts": {"channel": "sales"}}


def narration(tr: Translator) -> list[str]:
    return [tr.t(key) for key in NARRATION] + [tr.t(key, **values) for key, values in NARRATION_WITH.items()]


@pytest.mark.parametrize(
    ("how", "said", "not_said"),
    [
        ((), PT, EN),  # ASKCALL_LANGUAGE unset: pt-BR, like the Slack messages
        (("ASKCALL_LANGUAGE", "en"), EN, PT),
        (("--language", "en"), EN, PT),
        (("ASKCALL_LANGUAGE", "pt-BR"), PT, EN),
    ],
    ids=["default", "env-en", "option-en", "env-pt"],
)
async def test_the_narration_speaks_the_language_of_the_slack_messages(
    tmp_path: Path, how: tuple[str, ...], said: Translator, not_said: Translator
) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    args: tuple[str, ...] = ()
    if how[:1] == ("ASKCALL_LANGUAGE",):
        env["ASKCALL_LANGUAGE"] = how[1]
    else:
        args = how
    returncode, out, err = await run_askcall("demo", *args, env=env, cwd=tmp_path)

    assert returncode == 0, out + err
    for line in narration(said):
        assert line in out, line
    for line in narration(not_said):
        assert line not in out, line
    allowed = "@ana ✅ The customer allowed calls for 7 days." if said is EN else "@ana ✅ O cliente permitiu ligações"
    assert allowed in out  # the Slack messages, in the same language
    assert f"/askcall +55 11 98765-4321 {said.t('demo.reason')}" in out


async def test_demo_call_without_aiortc_says_what_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked" / "aiortc"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError(\"No module named 'aiortc'\")\n")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(blocker.parent)}
    returncode, out, err = await run_askcall("demo", "--call", env=env, cwd=tmp_path)

    assert returncode == 1, out + err
    assert out.startswith("✗ `askcall demo --call` precisa do aiortc, que faz o papel do WhatsApp do cliente: ")
    assert "pip install 'askcall[demo]'" in out
    assert "@ana" not in out  # nothing started


async def test_open_and_port_go_with_call(tmp_path: Path) -> None:
    returncode, out, err = await run_demo(tmp_path, "--open")

    assert returncode == 2
    assert out == ""
    assert err == "askcall: --open and --port go with --call\n"


async def test_a_mistyped_language_is_refused_as_serve_refuses_it_not_replaced_by_portuguese(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "ASKCALL_LANGUAGE": "es"}
    returncode, out, err = await run_askcall("demo", env=env, cwd=tmp_path)

    assert returncode == 2
    assert out == ""  # nothing started
    assert err == (
        "askcall: ASKCALL_LANGUAGE='es' is not one of pt-BR, en, e.g. ASKCALL_LANGUAGE=pt-BR (or pass --language)\n"
    )
    # The option still wins over the variable, as its help says.
    returncode, out, err = await run_askcall("demo", "--language", "en", env=env, cwd=tmp_path)
    assert returncode == 0, out + err
    assert EN.t("demo.worked") in out
