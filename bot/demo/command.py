"""The `askcall demo` subcommand: its arguments, and its dispatch to bot.demo.loop.

The demo itself (the app, the fakes) is imported only when the command runs, so the rest of the CLI
never loads it. Needs no setting at all. Exit status: 0 the answer reached the thread, 1 it did not,
2 bad arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from typing import Any


def add_demo_command(commands: Any) -> None:
    """Add `demo` to the `askcall` parser's subparsers."""
    demo = commands.add_parser(
        "demo",
        help="run the whole loop on this machine, with stand-ins for Slack and Pilot Status",
        description="Start AskCall with loopback fakes of Slack and Pilot Status, send a /askcall, let the "
        "customer answer, and print the Slack messages a rep would read. Needs no account or setting. "
        "Exit status 0 only if the answer reached the thread.",
    )
    demo.add_argument(
        "--language",
        choices=["pt-BR", "en"],
        help="language of the messages and the call page (default: ASKCALL_LANGUAGE, else pt-BR)",
    )
    demo.add_argument(
        "--call",
        action="store_true",
        help="then click “📞 Call now” and serve the call page to this machine's browser until Ctrl-C: the fake "
        "customer answers and plays a tone (needs the demo extra: pip install 'askcall[demo]')",
    )
    demo.add_argument("--open", action="store_true", help="with --call: open the link in the default browser")
    demo.add_argument(
        "--port", type=int, default=0, help="with --call: AskCall's port on 127.0.0.1 (default: a free one)"
    )
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from bot.demo.loop import run_demo
    from bot.i18n import LANGUAGES, normalize_language

    configured = (env.get("ASKCALL_LANGUAGE") or "").strip()
    language = args.language or normalize_language(configured)
    if not args.language and configured and normalize_language(configured, fallback="") not in LANGUAGES:
        # The same refusal as `askcall serve`: a typo never silently becomes the default language.
        print(
            f"askcall: ASKCALL_LANGUAGE={configured!r} is not one of {', '.join(LANGUAGES)}, e.g. "
            "ASKCALL_LANGUAGE=pt-BR (or pass --language)",
            file=sys.stderr,
        )
        return 2
    if (args.open or args.port) and not args.call:
        print("askcall: --open and --port go with --call", file=sys.stderr)
        return 2
    try:
        return asyncio.run(
            run_demo(sys.stdout, language=language, call=args.call, open_browser=args.open, port=args.port)
        )
    except KeyboardInterrupt:  # Ctrl-C before the demo could take it over
        return 130
