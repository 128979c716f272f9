"""The container files, checked without a Docker engine: what can be read is asserted."""

from __future__ import annotations

import os
import re
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
TOKENS = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "s",
    "PILOT_STATUS_API_KEY": "ps_1",
    "PILOT_STATUS_WEBHOOK_SECRET": "w",
}


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


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, one list per stage (each starting with its FROM)."""
    found: list[list[tuple[str, str]]] = []
    for step in instructions():
        if step[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(step)
    return found


def index_of(steps: list[tuple[str, str]], op: str, *words: str) -> int:
    """The position of the one instruction `op` whose argument holds every word."""
    (found,) = [i for i, (o, arg) in enumerate(steps) if o == op and all(w in arg.split() for w in words)]
    return found


def test_locked_dependencies_are_installed_in_their_own_layer_before_the_source() -> None:
    """A code edit must not rebuild the dependencies: they come from requirements.lock alone, before `COPY . .`."""
    builder, runtime = stages()
    lock = index_of(builder, "COPY", "requirements.lock")
    assert builder[lock][1].split() == ["requirements.lock", "./"]  # the lock and nothing else
    wheels = index_of(builder, "RUN", "-r", "requirements.lock")
    assert "--require-hashes" in builder[wheels][1].split()  # every download checked against the lock
    source = index_of(builder, "COPY", ".")
    project = index_of(builder, "RUN", "--no-deps", ".")
    assert lock < wheels < source < project
    assert not any(op == "COPY" for op, _ in builder[lock + 1 : wheels])
    # The runtime installs the locked wheels, then AskCall's own, each without resolving anything again.
    dependencies = index_of(runtime, "RUN", "/wheels/*.whl")
    askcall = index_of(runtime, "RUN", "/dist/*.whl")
    assert dependencies < askcall
    for i in (dependencies, askcall):
        assert {"--no-index", "--no-deps"} <= set(runtime[i][1].split())
    assert "pip check" in runtime[askcall][1]  # the build fails if the lock doesn't satisfy AskCall


def test_dockerignore_keeps_secrets_and_databases_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and "*.db" in ignored and ".git" in ignored
    # What the build needs stays in: the lock, the license (pyproject's license-files) and the readme.
    for needed in ("requirements.lock", "LICENSE", "README.md", "pyproject.toml"):
        assert not any(fnmatch(needed, pattern) for pattern in ignored if not pattern.startswith("!")), needed


def test_single_instance_compose_example_uses_the_volume_and_readiness() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.sqlite.yml").read_text())
    service = compose["services"]["askcall"]
    assert "askcall-data:/data" in service["volumes"]
    assert service["environment"]["ASKCALL_DB_PATH"] == "/data/askcall.db"
    assert "/readyz" in " ".join(service["healthcheck"]["test"])
    assert "askcall-data" in compose["volumes"]


def seconds(duration: str) -> float:
    """A compose duration (`30s`, `1m30s`, `1500ms`) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


@pytest.mark.parametrize("name", ["docker-compose.sqlite.yml", "docker-compose.yml"])
def test_compose_gives_askcall_longer_to_stop_than_its_shutdown_grace(name: str) -> None:
    """Docker kills a container when stop_grace_period runs out: it must outlast ASKCALL_SHUTDOWN_GRACE."""
    services = yaml.safe_load((ROOT / name).read_text())["services"]
    askcall = {key: s for key, s in services.items() if s.get("build") == "." or "askcall" in str(s.get("image"))}
    assert askcall, name
    for key, service in askcall.items():
        assert service.get("stop_signal") == "SIGTERM", key
        grace = float(service.get("environment", {}).get("ASKCALL_SHUTDOWN_GRACE", Settings.shutdown_grace))
        assert seconds(service["stop_grace_period"]) > grace, key
        comment = re.findall(r"#.*?(\d+) s\b", (ROOT / name).read_text())
        assert all(float(number) in (grace, seconds(service["stop_grace_period"])) for number in comment), comment


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def replicas(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The AskCall services: those that run on a database URL."""
    return {name: s for name, s in services.items() if "ASKCALL_DATABASE_URL" in s.get("environment", {})}


def test_compose_runs_postgresql_with_a_volume_and_a_healthcheck() -> None:
    services = compose()["services"]
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    volume = next(v for v in postgres["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert volume.split(":")[0] in compose()["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "POSTGRES_PASSWORD=" in (ROOT / ".env.example").read_text()  # where the compose file reads it from


def test_compose_runs_two_askcall_replicas_on_it() -> None:
    services = compose()["services"]
    found = replicas(services)
    assert len(found) == 2
    for service in found.values():
        url = urlsplit(service["environment"]["ASKCALL_DATABASE_URL"])
        assert url.scheme == "postgresql" and url.hostname == "postgres" and url.port == 5432
        assert url.password is None  # it comes from PGPASSWORD, which asyncpg reads
        assert service["environment"]["PGPASSWORD"] == services["postgres"]["environment"]["POSTGRES_PASSWORD"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
        assert "ports" not in service  # reached only through the proxy
        grace = float(service["environment"]["ASKCALL_SHUTDOWN_GRACE"])
        assert float(service["stop_grace_period"].rstrip("s")) > grace
        # The settings the replicas get are valid (the tokens come from .env).
        env = {**service["environment"], **TOKENS}
        assert Settings.from_env(env).database.dsn == service["environment"]["ASKCALL_DATABASE_URL"]


def test_compose_puts_a_reverse_proxy_with_readiness_checks_in_front() -> None:
    services = compose()["services"]
    proxy = services["proxy"]
    assert proxy["image"].split(":")[0] == "caddy"
    assert len(proxy["ports"]) == 1
    mount = next(v for v in proxy["volumes"] if v.endswith(":/etc/caddy/Caddyfile:ro"))
    caddyfile = (ROOT / mount.split(":")[0]).read_text()
    upstreams = re.search(r"reverse_proxy ([^{]+)\{", caddyfile)
    assert upstreams is not None
    assert sorted(upstreams.group(1).split()) == sorted(f"{name}:3000" for name in replicas(services))
    assert re.search(r"^\s*health_uri /readyz$", caddyfile, re.MULTILINE)
    assert set(proxy["depends_on"]) == set(replicas(services))


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
    for name in ("docs/configuration.md", ".env.example"):
        lines = [line for line in (ROOT / name).read_text().splitlines() if "ACCESS_CONTACT" in line]
        assert lines, name
        assert not any(re.search(r"(?<![<\w])#[a-z][\w-]*", line) and "shows" not in line for line in lines), lines
