"""deploy/kubernetes, checked without a cluster: every manifest parses, the properties that keep rolling restarts
lossless hold (2 replicas, probes, termination grace, disruption budget, secrets), and every pod (the Deployment's,
and the copy Job that deploy/kubernetes/README.md shows) meets the "restricted" Pod Security Standard, so a
namespace that enforces it admits them."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet

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


# --- the "restricted" Pod Security Standard -------------------------------------------------------------------
# The rules of https://kubernetes.io/docs/concepts/security/pod-security-standards/ at the "restricted" level (which
# includes "baseline"), as the Pod Security admission controller checks them (kubernetes/pod-security-admission,
# policy/check_*.go): the fields each control restricts and the values it allows.
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
# Baseline "Capabilities" allows adding these; restricted narrows it to NET_BIND_SERVICE only.
RESTRICTED_ADDABLE_CAPABILITIES = {"NET_BIND_SERVICE"}
# Restricted "Volume Types": spec.volumes[*] may only be of these kinds (hostPath is forbidden by baseline too).
ALLOWED_VOLUME_SOURCES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
# Baseline "Sysctls": the safe set.
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}
APPARMOR_TYPES = {"RuntimeDefault", "Localhost"}


def restricted_violations(template: dict[str, Any]) -> list[str]:
    """Why a pod template (metadata + spec) breaks the restricted profile; empty when it meets it."""
    spec, annotations = template["spec"], (template.get("metadata") or {}).get("annotations") or {}
    pod = spec.get("securityContext") or {}
    containers = [(f"{kind}[{c['name']}]", c) for kind in CONTAINER_LISTS for c in spec.get(kind) or []]
    contexts = [("spec", pod)] + [(name, c.get("securityContext") or {}) for name, c in containers]
    found: list[str] = []
    # Baseline: HostProcess, Host Namespaces, HostPath Volumes, Host Ports, Host Probes / Lifecycle Hooks.
    found += [
        f"{name}: windowsOptions.hostProcess"
        for name, sc in contexts
        if (sc.get("windowsOptions") or {}).get("hostProcess")
    ]
    found += [f"spec.{field}" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)]
    for name, container in containers:
        found += [f"{name}: hostPort {p['hostPort']}" for p in container.get("ports") or [] if p.get("hostPort")]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            handler = container.get(probe) or {}
            found += [
                f"{name}: {probe}.{kind}.host"
                for kind in ("httpGet", "tcpSocket")
                if (handler.get(kind) or {}).get("host")
            ]
        for hook in ((container.get("lifecycle") or {}).get(event) or {} for event in ("postStart", "preStop")):
            found += [
                f"{name}: lifecycle host" for kind in ("httpGet", "tcpSocket") if (hook.get(kind) or {}).get("host")
            ]
    # Baseline: Privileged Containers, /proc Mount Type, SELinux, AppArmor, Sysctls.
    for name, sc in contexts:
        if sc.get("privileged"):
            found.append(f"{name}: privileged")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount {sc['procMount']}")
        selinux = sc.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            found.append(f"{name}: seLinuxOptions {selinux}")
        apparmor = (sc.get("appArmorProfile") or {}).get("type")
        if apparmor is not None and apparmor not in APPARMOR_TYPES:
            found.append(f"{name}: appArmorProfile {apparmor}")
    for key, value in annotations.items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            value == "runtime/default" or value.startswith("localhost/")
        ):
            found.append(f"annotation {key}: {value}")
    found += [f"sysctl {s['name']}" for s in pod.get("sysctls") or [] if s["name"] not in SAFE_SYSCTLS]
    # Restricted: Volume Types.
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_SOURCES:
            found.append(f"volume {volume['name']}: {sorted(kinds - ALLOWED_VOLUME_SOURCES)}")
    # Restricted: Privilege Escalation (must be set to false), Capabilities (drop ALL; add only NET_BIND_SERVICE).
    for name, container in containers:
        sc = container.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{name}: capabilities.drop lacks ALL")
        if not set(capabilities.get("add") or []) <= RESTRICTED_ADDABLE_CAPABILITIES:
            found.append(f"{name}: capabilities.add {capabilities['add']}")
    # Restricted: Running as Non-root (pod-level true, or every container true; none false), Running as Non-root
    # user (no runAsUser 0), Seccomp (RuntimeDefault or Localhost at pod level, or on every container).
    for name, sc in contexts:
        if sc.get("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        if sc.get("runAsNonRoot") is False:
            found.append(f"{name}: runAsNonRoot false")
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if seccomp is not None and seccomp not in SECCOMP_TYPES:
            found.append(f"{name}: seccompProfile {seccomp}")
    for name, container in containers:
        sc = container.get("securityContext") or {}
        if pod.get("runAsNonRoot") is not True and sc.get("runAsNonRoot") is not True:
            found.append(f"{name}: runAsNonRoot is set neither on the pod nor on the container")
        if "seccompProfile" not in pod and "seccompProfile" not in sc:
            found.append(f"{name}: seccompProfile is set neither on the pod nor on the container")
    return found


def pod_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod template: the manifests' workloads, and the Job shown in deploy/kubernetes/README.md."""
    readme = (FOLDER / "README.md").read_text()
    shown = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)]
    for manifest in [*manifests(), *shown]:
        spec = manifest.get("spec") or {}
        if manifest["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            yield f"{manifest['kind']}/{manifest['metadata']['name']}", spec["template"]


def test_every_pod_meets_the_restricted_pod_security_standard() -> None:
    templates = dict(pod_templates())
    assert set(templates) == {"Deployment/askcall", "Job/askcall-copy"}
    for name, template in templates.items():
        assert restricted_violations(template) == [], name


def test_the_root_file_system_is_read_only_with_a_writable_tmp() -> None:
    for name, template in pod_templates():
        spec = template["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert "emptyDir" in volumes[tmp["name"]], name


@pytest.mark.parametrize(
    "change",
    [
        lambda pod: pod["securityContext"].pop("seccompProfile"),
        lambda pod: pod["securityContext"].update(runAsNonRoot=False),
        lambda pod: pod["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
        lambda pod: pod["containers"][0]["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
        lambda pod: pod["containers"][0]["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
        lambda pod: pod["containers"][0]["securityContext"].update(privileged=True),
        lambda pod: pod.update(hostNetwork=True),
        lambda pod: pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
        lambda pod: pod["containers"][0]["ports"][0].update(hostPort=3000),
        lambda pod: pod["containers"][0]["securityContext"].update(runAsUser=0),
        lambda pod: pod["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
    ],
)
def test_the_check_refuses_what_the_standard_refuses(change: Any) -> None:
    template = copy.deepcopy(one("Deployment")["spec"]["template"])
    change(template["spec"])
    assert restricted_violations(template) != []


def uncommented(path: Path, indent: str) -> dict[str, Any]:
    """The YAML mapping a file's commented-out settings make once uncommented (`# NAME: value` at `indent`)."""
    lines = [
        line.replace(f"{indent}# ", indent, 1)
        for line in path.read_text().splitlines()
        if line.startswith(f"{indent}# ") and re.match(r"^(- name|  value|[A-Z_]+):", line[len(indent) + 2 :])
    ]
    return yaml.safe_load("\n".join(lines)) or {}


def test_multi_workspace_mode_is_the_commented_settings_uncommented() -> None:
    """Client id, client secret and the encryption key are secrets; the public URL and the grace period are the
    Deployment's; with them in place of SLACK_BOT_TOKEN the configuration is a valid multi-workspace one."""
    secrets = uncommented(FOLDER / "secret.yaml", "  ")
    assert set(secrets) == {"SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "ASKCALL_ENCRYPTION_KEY"}
    assert all(value == "REPLACE-ME" for value in secrets.values())
    extra = uncommented(FOLDER / "deployment.yaml", "            ")
    pairs = {item["name"]: item["value"] for item in extra} if isinstance(extra, list) else {}
    assert set(pairs) == {"ASKCALL_PUBLIC_URL", "ASKCALL_UNINSTALL_GRACE_DAYS"}
    data = {name: value for name, value in one("Secret")["stringData"].items() if name != "SLACK_BOT_TOKEN"}
    key = Fernet.generate_key().decode()
    settings = Settings.from_env({**data, **env(), **pairs, **secrets, "ASKCALL_ENCRYPTION_KEY": key})
    assert settings.multi_workspace and settings.uninstall_grace_days == 30
