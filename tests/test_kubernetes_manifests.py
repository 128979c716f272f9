"""deploy/kubernetes, checked without a cluster: every manifest parses, and the properties that keep
rolling restarts lossless hold (2 replicas, probes, termination grace, disruption budget, secrets)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ConfigError, Settings

FOLDER = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
# The default for ASKCALL_SHUTDOWN_GRACE, used when the Deployment does not set it.
DEFAULT_SHUTDOWN_GRACE = 20.0


def manifests() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(FOLDER.glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return found


def one(kind: str) -> dict[str, Any]:
    (found,) = [m for m in manifests() if m["kind"] == kind]
    return found


def container() -> dict[str, Any]:
    (askcall,) = one("Deployment")["spec"]["template"]["spec"]["containers"]
    return askcall


def env() -> dict[str, str]:
    return {item["name"]: item["value"] for item in container().get("env", []) if "value" in item}


def required_variables() -> list[str]:
    """What the code itself says is missing from an empty environment."""
    with pytest.raises(ConfigError) as error:
        Settings.from_env({})
    found = re.search(r"Missing required environment variable\(s\): ([A-Z_, ]+)", str(error.value))
    assert found, error.value
    return [name.strip() for name in found.group(1).split(",")]


def test_every_manifest_parses_and_kustomization_lists_them() -> None:
    kinds = sorted(m["kind"] for m in manifests())
    assert kinds == ["Deployment", "Kustomization", "PodDisruptionBudget", "Secret", "Service"]
    listed = one("Kustomization")["resources"]
    assert sorted(listed) == sorted(p.name for p in FOLDER.glob("*.yaml") if p.name != "kustomization.yaml")


def test_deployment_runs_two_replicas_one_pod_at_a_time() -> None:
    spec = one("Deployment")["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_probes_readiness_on_readyz_and_liveness_on_healthz() -> None:
    askcall = container()
    port = next(p for p in askcall["ports"] if p["name"] == askcall["readinessProbe"]["httpGet"]["port"])
    assert port["containerPort"] == 3000
    assert askcall["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert askcall["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_termination_grace_outlasts_the_prestop_sleep_and_the_shutdown_grace() -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    shutdown_grace = float(env().get("ASKCALL_SHUTDOWN_GRACE", DEFAULT_SHUTDOWN_GRACE))
    assert shutdown_grace >= Settings.shutdown_grace
    command = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > float(command[1]) + shutdown_grace


def test_disruption_budget_keeps_one_pod_and_selects_the_pods() -> None:
    budget = one("PodDisruptionBudget")["spec"]
    labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert budget["minAvailable"] == 1
    assert budget["selector"]["matchLabels"] and budget["selector"]["matchLabels"].items() <= labels.items()


def test_service_selects_the_pods_on_their_port() -> None:
    service = one("Service")["spec"]
    labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    assert [p["targetPort"] for p in service["ports"]] == [p["name"] for p in container()["ports"]]


def test_secret_holds_the_variables_the_code_requires_as_placeholders() -> None:
    secret = one("Secret")
    data = secret["stringData"]
    assert "data" not in secret  # placeholders in plain text, never base64 of real values
    assert set(required_variables()) <= set(data)
    assert "ASKCALL_DATABASE_URL" in data
    assert all("REPLACE-ME" in value for value in data.values())
    (source,) = container()["envFrom"]
    assert source["secretRef"]["name"] == secret["metadata"]["name"]
    # Together with the Deployment's own variables, they make a complete PostgreSQL configuration.
    settings = Settings.from_env({**data, **env()})
    assert settings.database.scheme == "postgresql"
    assert "REPLACE-ME" not in settings.database.redacted()
