"""The container files, checked without a Docker engine: what can be read is asserted."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_dockerfile_is_multi_stage_non_root_with_volume_and_healthcheck() -> None:
    steps = instructions()
    froms = [arg for op, arg in steps if op == "FROM"]
    assert len(froms) >= 2 and all("slim" in f for f in froms)
    users = [arg for op, arg in steps if op == "USER"]
    assert users and not users[-1].startswith(("root", "0"))
    assert ("VOLUME", "/data") in steps
    assert any(op == "ENV" and "ASKCALL_DB_PATH=/data/askcall.db" in arg for op, arg in steps)
    assert any(op == "HEALTHCHECK" and "/healthz" in arg for op, arg in steps)
    assert ("STOPSIGNAL", "SIGTERM") in steps
    assert ("ENTRYPOINT", '["askcall"]') in steps and ("CMD", '["serve"]') in steps


def test_dockerignore_keeps_secrets_and_databases_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and "*.db" in ignored and ".git" in ignored


def test_compose_example_uses_the_volume_and_readiness() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["askcall"]
    assert "askcall-data:/data" in service["volumes"]
    assert service["environment"]["ASKCALL_DB_PATH"] == "/data/askcall.db"
    assert "/readyz" in " ".join(service["healthcheck"]["test"])
    assert "askcall-data" in compose["volumes"]


def test_env_example_lists_every_variable_the_code_reads() -> None:
    example = (ROOT / ".env.example").read_text()
    source = (ROOT / "bot" / "config.py").read_text()
    read = set(re.findall(r'get\("([A-Z][A-Z0-9_]+)"', source))
    assert read, "no variables found: the pattern no longer matches config.py"
    missing = sorted(name for name in read if name not in example)
    assert missing == []


def test_example_numbers_file_is_valid() -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "ASKCALL_CONFIG": str(ROOT / "askcall.example.toml"),
        **{f"PILOT_STATUS_{kind}_{team}": "x" for kind in ("API_KEY", "WEBHOOK_SECRET") for team in ("SP", "RJ")},
    }
    settings = Settings.from_env(env)
    assert [n.name for n in settings.numbers] == ["vendas-sp", "vendas-rj"]
    assert settings.number_for_channel("C0333333333").name == "vendas-rj"
    assert settings.number_for_channel("C0999999999") is None
    assert os.path.basename(settings.numbers[1].webhook_path) == "vendas-rj"


def test_access_contact_examples_are_slack_links() -> None:
    """A bare #channel shows as plain text in Slack: the docs must not suggest one."""
    root = Path(__file__).resolve().parent.parent
    for name in ("README.md", ".env.example"):
        lines = [line for line in (root / name).read_text().splitlines() if "ACCESS_CONTACT" in line]
        assert lines, name
        assert not any(re.search(r"(?<![<\w])#[a-z][\w-]*", line) and "shows" not in line for line in lines), lines
