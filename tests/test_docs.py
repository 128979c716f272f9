"""The documentation, checked like code: the README's pictures and set-up commands, every relative link and anchor
in README.md, docs/ and deploy/, every setting in docs/configuration.md, and the license."""

from __future__ import annotations

import hashlib
import re
import struct
import tomllib
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAX_BYTES = 200 * 1024
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *sorted((ROOT / "deploy").rglob("*.md")),
]
# The commands the README promises, exactly as CI (.ci/run) runs them.
RUN_COMMAND = "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/askcall serve"
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest"


# --- pictures and commands ---------------------------------------------------------------------------------------
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
    assert "python -m docs.screenshots" in (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    script = (ROOT / "docs" / "screenshots.py").read_text(encoding="utf-8")
    assert '"call-page.png"' in script and '"call-page-phone.png"' in script
    from docs import screenshots
    from tests.calls import browser

    assert screenshots.chromium is browser.chromium  # the browser tests' headless Chromium
    assert screenshots.MICROPHONE is browser.MICROPHONE  # with the microphone allowed, or the call fails


def shell_lines(markdown: str) -> list[str]:
    """The lines of the ```sh blocks of a Markdown text."""
    return [line for block in re.findall(r"^```sh\n(.*?)^```", markdown, re.M | re.S) for line in block.splitlines()]


def test_the_readme_keeps_the_two_set_up_commands_that_ci_runs() -> None:
    lines = shell_lines(README)
    assert RUN_COMMAND in lines and TEST_COMMAND in lines
    ci = (ROOT / ".ci" / "run").read_text()
    install, _, test = TEST_COMMAND.rpartition(" && ")
    assert f"{install} && " in ci or f"{install}\n" in ci
    assert re.search(rf"^\s*(exec )?{re.escape(test)}\b", ci, re.M)


# --- relative links ------------------------------------------------------------------------------------------------
FENCED = re.compile(r"^(`{3,}|~{3,})[^\n]*\n.*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]+`")
MARKDOWN_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HTML_LINK = re.compile(r"<(?:img|a|source)\b[^>]*?\s(?:src|href)=\"([^\"]*)\"", re.I)
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
HTML_ANCHOR = re.compile(r"<a\s[^>]*?(?:id|name)=\"([^\"]+)\"", re.I)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)


def prose(markdown: str) -> str:
    """The text without code: links inside code blocks and `inline code` are not links."""
    return INLINE_CODE.sub("code", FENCED.sub("", markdown))


def slug(heading: str) -> str:
    """GitHub's id for a heading: its text, lowercased, without punctuation, spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """The ids GitHub gives a Markdown file's headings (repeats get -1, -2, …), and explicit HTML anchors."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCED.sub("", markdown)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found | set(HTML_ANCHOR.findall(markdown))


def links(markdown: str) -> list[str]:
    text = prose(markdown)
    return MARKDOWN_LINK.findall(text) + REFERENCE.findall(text) + HTML_LINK.findall(text)


def broken_links(document: Path) -> list[str]:
    """Relative links of a Markdown file whose file, or whose #anchor in a Markdown file, doesn't exist."""
    markdown = document.read_text(encoding="utf-8")
    broken: list[str] = []
    for target in links(markdown):
        if not target or EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (document.parent / unquote(path)).resolve() if path else document
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with that id")
    return broken


def test_the_documents_are_all_checked() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in DOCUMENTS}
    pages = ["reps", "calling", "configuration", "operations", "deployment", "security", "development"]
    assert {"README.md", "deploy/kubernetes/README.md", *(f"docs/{page}.md" for page in pages)} <= names
    assert all(links(path.read_text(encoding="utf-8")) for path in DOCUMENTS if path.parent.name == "docs")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_points_at_a_file_and_heading_that_exist(document: Path) -> None:
    assert broken_links(document) == []


def test_the_readme_links_to_every_page_of_the_docs() -> None:
    linked = {target.partition("#")[0] for target in links(README)}
    assert {f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md")} <= linked


def test_the_link_checker_finds_what_is_broken(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## Set-up commands\n\n## Set-up commands\n")
    (tmp_path / "picture.png").write_bytes(b"")
    readme = tmp_path / "README.md"
    readme.write_text(
        "[ok](docs/page.md) [ok](docs/page.md#set-up-commands) [ok](docs/page.md#set-up-commands-1) [ok](#top)\n"
        '<img src="picture.png"> [web](https://example.com/x.md) `[code](missing.md)`\n\n'
        "```sh\n[fenced](missing.md)\n```\n\n# Top\n\n"
        '[gone](docs/gone.md) ![gone](gone.png) <img src="gone.svg" alt="x">\n'
        "[bad anchor](docs/page.md#set-up) [bad anchor here](#nowhere)\n\n[ref]: gone/folder/\n"
    )
    assert broken_links(readme) == [
        "docs/gone.md: no such file",
        "gone.png: no such file",
        "docs/page.md#set-up: no heading with that id",
        "#nowhere: no heading with that id",
        "gone/folder/: no such file",
        "gone.svg: no such file",
    ]


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Running several replicas (PostgreSQL)", "running-several-replicas-postgresql"),
        ("How it works, and why it is safe to kill", "how-it-works-and-why-it-is-safe-to-kill"),
        ("`ASKCALL_DB_PATH` and the [image](Dockerfile)", "askcall_db_path-and-the-image"),
        ("📞 Ligar agora / Call now", "-ligar-agora--call-now"),
    ],
)
def test_heading_ids_follow_github(heading: str, expected: str) -> None:
    assert slug(heading) == expected


# --- configuration -------------------------------------------------------------------------------------------------
def config_source() -> str:
    return (ROOT / "bot" / "config.py").read_text(encoding="utf-8")


def table(markdown: str, section: str) -> list[list[str]]:
    """The rows of the first table under a `## section` heading, as lists of cells (header and rule left out)."""
    body = markdown.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    block: list[list[str]] = []
    for line in body.splitlines():
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
        elif block:
            break
    return block[2:]


def test_every_variable_the_settings_read_is_documented_with_type_default_and_example() -> None:
    read = set(re.findall(r'get\("([A-Z][A-Z0-9_]+)"', config_source()))
    assert len(read) > 20, "the pattern no longer matches bot/config.py"
    rows = table((ROOT / "docs" / "configuration.md").read_text(encoding="utf-8"), "Variables")
    documented = {}
    for row in rows:
        assert len(row) == 5 and all(row), row  # variable, type, default, example, meaning
        name = row[0].strip("`")
        assert name not in documented, f"{name} is documented twice"
        documented[name] = row
    missing = sorted(read - set(documented))
    assert missing == [], f"read in bot/config.py but not in docs/configuration.md: {missing}"
    assert sorted(set(documented) - read) == [], "documented but not read by bot/config.py"


def test_the_list_of_known_variables_is_what_the_settings_read() -> None:
    """`VARIABLES` (what a typo is checked against) names exactly the variables bot/config.py reads."""
    from bot.config import VARIABLES

    assert set(re.findall(r'get\("([A-Z][A-Z0-9_]+)"', config_source())) == VARIABLES


def test_every_key_of_the_numbers_file_is_documented() -> None:
    keys = set(re.findall(r'entry\.get\("([a-z_]+)"', config_source()))
    assert {"name", "api_key_env", "webhook_secret_env", "channels"} <= keys
    rows = table((ROOT / "docs" / "configuration.md").read_text(encoding="utf-8"), "Several WhatsApp numbers")
    assert {row[0].strip("`") for row in rows} == keys


def test_the_documented_defaults_are_the_code_s() -> None:
    """A default in the table is what Settings uses when the variable is unset."""
    from bot.config import Settings

    rows = table((ROOT / "docs" / "configuration.md").read_text(encoding="utf-8"), "Variables")
    defaults = {row[0].strip("`"): row[2] for row in rows}
    settings = Settings.from_env(
        {"SLACK_BOT_TOKEN": "xoxb-x", "PILOT_STATUS_API_KEY": "x", "ASKCALL_INSECURE_DEV": "1"}
    )
    expected = {
        "SLACK_API_URL": settings.slack_api_url,
        "PILOT_STATUS_BASE_URL": settings.pilot_status_base_url,
        "ASKCALL_DB_POOL_SIZE": settings.db_pool_size,
        "ASKCALL_DEFAULT_REGION": settings.default_region,
        "ASKCALL_LANGUAGE": settings.language,
        "HOST": settings.host,
        "PORT": settings.port,
        "ASKCALL_LOG_LEVEL": settings.log_level,
        "ASKCALL_LOG_FORMAT": settings.log_format,
        "ASKCALL_PHONE_DISPLAY": settings.phone_display,
        "ASKCALL_MAX_REQUESTS_PER_REP_PER_HOUR": settings.max_requests_per_rep_per_hour,
        "ASKCALL_RETENTION_DAYS": settings.retention_days,
        "ASKCALL_SHUTDOWN_GRACE": f"{settings.shutdown_grace:g}",
        "ASKCALL_LEASE_SECONDS": f"{settings.lease_seconds:g}",
    }
    for name, value in expected.items():
        assert defaults[name].startswith(f"`{value}`"), (name, defaults[name], value)
    assert defaults["ASKCALL_DB_PATH"].startswith(f"`{settings.db_path}`")


# --- license -------------------------------------------------------------------------------------------------------
# sha256 of the Apache License 2.0 as the ASF publishes it (https://www.apache.org/licenses/LICENSE-2.0.txt).
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def test_askcall_is_apache_2_licensed_and_says_so() -> None:
    license_text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(license_text).hexdigest() == APACHE_2_SHA256  # the full text, appendix included
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"  # an SPDX expression (PEP 639)
    assert pyproject["project"]["license-files"] == ["LICENSE"]
    # setuptools reads PEP 639 metadata from version 77 on.
    (setuptools,) = [r for r in pyproject["build-system"]["requires"] if r.startswith("setuptools")]
    assert re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools) and int(setuptools[12:].split(".")[0]) >= 77
    assert "[Apache License 2.0](LICENSE)" in README


# --- releases ------------------------------------------------------------------------------------------------------
CHANGE_KINDS = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")


def test_the_changelog_keeps_a_changelog_and_its_newest_release_is_this_version() -> None:
    """CHANGELOG.md in the Keep a Changelog form: Unreleased first, then releases newest first, each with its date
    and only the standard kinds of change; the newest is the version AskCall says it is."""
    from bot import __version__

    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "https://keepachangelog.com/" in text and "https://semver.org/" in text
    releases = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, flags=re.MULTILINE)
    assert releases[0] == ("Unreleased", "")
    versions = [version for version, _ in releases[1:]]
    assert versions[0] == __version__
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) and date for version, date in releases[1:])
    assert versions == sorted(versions, key=lambda v: tuple(int(n) for n in v.split(".")), reverse=True)
    kinds = re.findall(r"^### (.+)$", text, flags=re.MULTILINE)
    assert kinds and set(kinds) <= set(CHANGE_KINDS), kinds
    assert len(re.findall(r"^## ", text, flags=re.MULTILINE)) == len(releases)  # no other second-level heading
