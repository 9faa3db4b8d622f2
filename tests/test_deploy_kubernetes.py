"""What deploy/kubernetes/ ships (docs/operators/kubernetes.md): every manifest the kustomization lists validates,
strictly (no unknown field), against the schemas of the pinned Kubernetes version (`kubernetes-validate`, offline);
a misspelt field fails; and the parts agree with each other and with the worker: probes on /livez and /readyz, a
preStop pause, a non-root read-only container, the secrets from the Secret by name, selectors that select the
workers, a ServiceMonitor that scrapes the Service's port as the alert rules' job, the image's tag the version, and
the pod running as the user the Dockerfile makes."""

from __future__ import annotations

import copy
import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

import bot
from bot.core.version import is_development
from tests.support.source import ROOT

KUBERNETES = ROOT / "deploy" / "kubernetes"
VERSION = "1.33.0"  # the pinned Kubernetes version whose schemas the manifests are checked against (the docs say it)
CUSTOM = {"monitoring.coreos.com/v1"}  # CRDs: no schema in kubernetes-validate (the ServiceMonitor is checked below)
SECRET = "agent-approvals"  # the Secret the docs tell operators to create
ALERT_JOB = "agent-approvals"  # deploy/prometheus/alerts.yml's `job`


def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    return loaded


def manifests() -> dict[str, dict[str, Any]]:
    """The resources the kustomization lists, by kind."""
    found: dict[str, dict[str, Any]] = {}
    for name in kustomization()["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / name).read_text()):
            found[document["kind"]] = document
    return found


def problems(document: dict[str, Any]) -> list[str]:
    """What the pinned version's schema says is wrong with `document` (strict: unknown fields too)."""
    try:
        kubernetes_validate.validate(document, VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(str(part) for part in exc.path)}: {exc.message}"]
    return []


def test_the_kustomization_lists_every_manifest_of_the_folder() -> None:
    listed = set(kustomization()["resources"])
    on_disk = {path.name for path in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    kinds = set(manifests())
    assert kinds == {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
                     "NetworkPolicy", "ServiceMonitor"}


@pytest.mark.parametrize("kind", ["ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
                                  "HorizontalPodAutoscaler", "NetworkPolicy"])
def test_each_manifest_validates_against_the_pinned_kubernetes(kind: str) -> None:
    document = manifests()[kind]
    assert document["apiVersion"] not in CUSTOM
    assert problems(document) == []


def test_a_misspelt_or_mistyped_field_fails_validation() -> None:
    deployment = manifests()["Deployment"]
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {"httpGet": {"path": "/readyz"}}
    assert any("readinessprobe" in problem for problem in problems(misspelt))
    mistyped = copy.deepcopy(deployment)
    mistyped["spec"]["replicas"] = "two"
    assert problems(mistyped) != []
    unknown = copy.deepcopy(manifests()["HorizontalPodAutoscaler"])
    unknown["apiVersion"] = "autoscaling/v9"
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(unknown, VERSION, strict=True)


def test_the_worker_is_probed_drained_and_confined() -> None:
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert pod["terminationGracePeriodSeconds"] > container["lifecycle"]["preStop"]["sleep"]["seconds"] + 10
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    confined = container["securityContext"]
    assert confined["readOnlyRootFilesystem"] is True and confined["allowPrivilegeEscalation"] is False
    assert confined["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and "memory" in container["resources"]["limits"]
    assert {"secretRef": {"name": SECRET}} in container["envFrom"]
    assert all("value" not in env or not env["name"].endswith(("TOKEN", "SECRET", "KEY", "KEYS")) for env in
               container.get("env", [])), "a secret written into the manifest"
    settings = manifests()["ConfigMap"]
    assert {"configMapRef": {"name": settings["metadata"]["name"]}} in container["envFrom"]
    (port,) = container["ports"]
    assert str(port["containerPort"]) == settings["data"]["PORT"] and port["name"] == "http"


def test_every_selector_selects_the_workers_and_the_monitor_scrapes_them_as_the_alerts_job() -> None:
    found = manifests()
    workers = found["Deployment"]["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str]) -> bool:
        return bool(selector) and selector.items() <= workers.items()

    assert selects(found["Deployment"]["spec"]["selector"]["matchLabels"])
    assert selects(found["Service"]["spec"]["selector"])
    assert selects(found["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"])
    assert selects(found["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"])
    target = found["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", found["Deployment"]["metadata"]["name"])
    monitor = found["ServiceMonitor"]["spec"]
    service = found["Service"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["metadata"]["labels"][monitor["jobLabel"]] == ALERT_JOB
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]} and endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"] == {"name": SECRET, "key": "METRICS_TOKEN"}
    allowed = {port["port"] for rule in found["NetworkPolicy"]["spec"]["ingress"] for port in rule["ports"]}
    assert allowed == {"http"}


def test_the_image_is_tagged_with_the_last_release() -> None:
    """The manifests run the newest release's image: at a release, its own version; between releases (main's
    development version) the one before, which one can deploy (scripts/release.py writes the tag at releases)."""
    (image,) = kustomization()["images"]
    assert image["name"] == manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
    newest = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - ", (ROOT / "CHANGELOG.md").read_text(), flags=re.MULTILINE)[0]
    assert image["newTag"] == (newest if is_development(bot.__version__) else bot.__version__)


def test_the_pod_runs_as_the_images_own_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    (user,) = re.findall(r"^USER (\d+):(\d+)$", dockerfile, flags=re.MULTILINE)
    assert re.search(rf"useradd --uid {user[0]} --gid {user[1]} ", dockerfile)
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    assert (str(pod["runAsUser"]), str(pod["runAsGroup"])) == user
    assert re.search(r"^HEALTHCHECK .*\n?.*/livez", dockerfile, flags=re.MULTILINE)
    assert 'ENTRYPOINT ["python", "-m", "bot"]' in dockerfile and "ARG BASE_IMAGE=python:3.11-slim" in dockerfile
