"""Mutation testing of the modules that hold AskCall's invariants: `python -m tests.mutation [GROUP ...]`.

Not a test module, and not run in CI (the whole run takes about an hour on two cores); tests/MUTATION.md keeps
its result. pyproject.toml's [tool.mutmut] names the modules; here each group of them gets its own fast tests.
For each group the project is copied into .mutation/<group>/, mutmut's configuration there is narrowed to the
group's modules and tests (mutmut then runs, for each mutant, only those of them that reach the mutated
function), and mutmut runs there. Then the score of each module and every surviving mutant are printed, as
markdown; `mutmut show NAME` in that folder shows a mutant's diff.

Groups: phones, webhooks, slack, store, call-links (all of them by default). `--module PATH` narrows the run to
one module of the group(s) named (e.g. `python -m tests.mutation webhooks --module bot/pilot_status/webhooks.py`),
against the same tests: to re-measure one module after its tests changed, in a fraction of the group's time. Such a
run has its own folder (.mutation/<group>--<module>, e.g. .mutation/slack--bot.slack.gateway), so the modules of a
group can run side by side and one's results do not replace another's.
End-to-end tests run on SQLite only here; the store's contract tests run on both backends (PostgreSQL as for the
suite: ASKCALL_TEST_DATABASE_URL).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
COPIED = ("bot", "tests", "manifest.yml", "pyproject.toml")
SQLITE_ONLY = ("-k", "not postgresql")


@dataclass(frozen=True)
class Group:
    modules: tuple[str, ...]
    tests: tuple[str, ...]
    # mutmut name patterns (all the modules' mutants when empty): a module of which only some functions count.
    names: tuple[str, ...] = ()
    pytest_args: tuple[str, ...] = ()


_CALL_LINK_FUNCTIONS = ("create_call_link", "redeem_call_link", "call_session", "delete_spent_call_credentials")

GROUPS = {
    "phones": Group(("bot/phones.py",), ("tests/test_phones.py", "tests/test_phones_properties.py")),
    "webhooks": Group(
        ("bot/pilot_status/webhooks.py", "bot/web/webhooks.py"),
        # Call events are parsed on their way to a call: the call-link tests place whole calls (aiortc, no browser).
        # A workspace's own webhook URL and hint mode (multi-workspace): the connect tests; refusals over raw HTTP.
        (
            "tests/pilot_status/test_webhooks.py",
            "tests/e2e/test_webhook.py",
            "tests/calls/test_call_link.py",
            "tests/oauth/test_connect.py",
            "tests/e2e/test_hostile_http.py",
        ),
        pytest_args=SQLITE_ONLY,
    ),
    "slack": Group(
        ("bot/slack/gateway.py", "bot/slack/notifier.py"),
        # The service crossings: a delivery whose workspace has no installation (it dies, never sent).
        (
            "tests/slack/test_gateway.py",
            "tests/e2e/test_slack_delivery.py",
            "tests/e2e/test_exactly_once.py",
            "tests/isolation/test_service_crossings.py",
        ),
        pytest_args=SQLITE_ONLY,
    ),
    "store": Group(
        tuple(
            f"bot/store/{backend}/{concern}.py"
            for backend in ("sqlite", "postgres")
            for concern in ("requests", "events", "deliveries", "leases")
        ),
        (
            "tests/store/test_contract.py",
            "tests/store/test_leases.py",
            "tests/store/test_budget_and_checks.py",
            "tests/store/test_calls.py",  # what deliveries posted (posted_ts, posted_for), asked by the calls
        ),
    ),
    "call-links": Group(
        ("bot/services/calls.py", "bot/store/sqlite/calls.py", "bot/store/postgres/calls.py"),
        ("tests/store/test_calls.py", "tests/store/test_call_records.py", "tests/calls/test_call_link.py"),
        names=(
            "bot.services.calls.x_digest*",
            *(f"bot.services.calls.xǁCallServiceǁ{name}__*" for name in ("issue_link", "redeem", "session")),
            *(
                f"bot.store.{b}.calls.xǁCallQueriesǁ{name}__*"
                for b in ("sqlite", "postgres")
                for name in _CALL_LINK_FUNCTIONS
            ),
        ),
    ),
}

# mutmut's exit codes of a mutant's test run (mutmut.stats): caught, or not.
KILLED = {1, 3, 36, 24, -24, 152, 255, 37}  # a failing test, a timeout, the type checker
SURVIVED = {0, 5, 33}  # every test passed, or no test reached it


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help=f"any of {', '.join(GROUPS)} (default: all)")
    parser.add_argument("--report-only", action="store_true", help="print the last run's results, run nothing")
    parser.add_argument("--module", help="mutate only this module of the group(s), e.g. bot/pilot_status/webhooks.py")
    args = parser.parse_args()
    unknown = set(args.groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {sorted(unknown)}: choose from {', '.join(GROUPS)}")
    configured = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"])
    names = args.groups or list(GROUPS)
    if args.module:
        names = [name for name in names if args.module in GROUPS[name].modules]
        if not names:
            parser.error(f"{args.module} is in none of the groups {', '.join(args.groups or GROUPS)}")
    for name in names:
        group = GROUPS[name] if not args.module else replace(GROUPS[name], modules=(args.module,))
        missing = set(group.modules) - configured
        assert not missing, f"{missing} are not in pyproject.toml's [tool.mutmut] only_mutate"
        folder = _folder(name, args.module)
        if not args.report_only:
            _prepare(folder, group)
            mutmut = Path(sys.executable).parent / "mutmut"
            subprocess.run([str(mutmut), "run", *group.names], cwd=folder, check=False, stdout=subprocess.DEVNULL)
        print(_report(name, folder, group))
    return 0


def _folder(name: str, module: str | None) -> Path:
    """A group's run folder; a one-module run has its own, so the modules of a group can run side by side."""
    if not module:
        return WORK / name
    return WORK / f"{name}--{module.removesuffix('.py').replace('/', '.')}"


def _prepare(folder: Path, group: Group) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for item in COPIED:
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, folder / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, folder / item)
    pyproject = folder / "pyproject.toml"
    head = pyproject.read_text().split("\n[tool.mutmut]\n")[0]
    pyproject.write_text(
        head
        + "\n[tool.mutmut]\n"
        + 'source_paths = ["bot/"]\n'
        + f"only_mutate = {json.dumps(list(group.modules))}\n"
        + 'also_copy = ["tests/", "manifest.yml", "pyproject.toml"]\n'
        + f"pytest_add_cli_args = {json.dumps(['-p', 'no:cacheprovider', *group.pytest_args])}\n"
        + f"pytest_add_cli_args_test_selection = {json.dumps(list(group.tests))}\n"
    )


def _report(name: str, folder: Path, group: Group) -> str:
    lines = [
        f"### {name}",
        "",
        "| module | mutants | killed | survived | score |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    survivors: list[str] = []
    for module in group.modules:
        meta = folder / "mutants" / (module + ".meta")
        if not meta.is_file():
            lines.append(f"| `{module}` | not run | | | |")
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counted = {key: code for key, code in codes.items() if _selected(key, group)}
        tally = Counter("killed" if c in KILLED else "survived" if c in SURVIVED else "other" for c in counted.values())
        checked = tally["killed"] + tally["survived"]
        score = f"{100 * tally['killed'] / checked:.1f} %" if checked else "–"
        lines.append(f"| `{module}` | {len(counted)} | {tally['killed']} | {tally['survived']} | {score} |")
        survivors += sorted(key for key, code in counted.items() if code in SURVIVED)
    lines += ["", f"Surviving ({len(survivors)}):", *(f"- `{key}`" for key in survivors), ""]
    return "\n".join(lines)


def _selected(key: str, group: Group) -> bool:
    return not group.names or any(fnmatchcase(key, pattern) for pattern in group.names)


if __name__ == "__main__":
    sys.exit(main())
