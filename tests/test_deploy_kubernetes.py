"""What deploy/kubernetes/ ships (docs/operators/kubernetes.md): every manifest the kustomization lists validates,
strictly (no unknown field), against the schemas of the pinned Kubernetes version (`kubernetes-validate`, offline);
a misspelt field fails; and the parts agree with each other and with the worker: probes on /livez and /readyz, a
preStop pause, a non-root read-only container, the secrets from the Secret by name, selectors that select the
workers, a ServiceMonitor that scrapes the Service's port as the alert rules' job, the image's tag the version, and
the pod running as the user the Dockerfile makes."""

from __future__ import annotations

import copy
import importlib.util
import re
import tomllib
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml

import bot
from bot.core.setting_values import listen_address
from bot.core.settings import Settings
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
    """The resources the kustomization lists, by kind (the Services: `Service`, the app's, and `Service/NAME`)."""
    found: dict[str, dict[str, Any]] = {}
    for name in kustomization()["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / name).read_text()):
            found.setdefault(document["kind"], document)
            found[f"{document['kind']}/{document['metadata']['name']}"] = document
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
    kinds = {name for name in manifests() if "/" not in name}
    assert kinds == {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
                     "NetworkPolicy", "ServiceMonitor"}
    assert manifests()["Service"]["metadata"]["name"] == SECRET  # the app's, first; then the metrics port's


@pytest.mark.parametrize("kind", ["ConfigMap", "Deployment", "Service", "Service/agent-approvals-metrics",
                                  "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"])
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
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}
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
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": int(settings["data"]["PORT"]), "metrics": listen_address(
        settings["data"]["METRICS_LISTEN"])[1]}  # type: ignore[index]


def test_metrics_and_healthz_are_on_a_port_of_their_own_that_the_apps_service_does_not_expose() -> None:
    """METRICS_LISTEN (the worker's setting: /metrics, /healthz and the probes there, refused on PORT) on every
    interface, its port the container's `metrics`; the app's Service (what an Ingress routes to) exposes `http`
    only; the metrics Service `metrics` only, and it alone is what the ServiceMonitor selects."""
    found = manifests()
    assert "METRICS_LISTEN" in Settings.model_fields["metrics_listen"].validation_alias  # type: ignore[operator]
    assert listen_address(found["ConfigMap"]["data"]["METRICS_LISTEN"]) == ("", 9464)
    app, metrics = found["Service"], found["Service/agent-approvals-metrics"]
    assert [port["targetPort"] for port in app["spec"]["ports"]] == ["http"]
    assert [port["targetPort"] for port in metrics["spec"]["ports"]] == ["metrics"]
    monitor = found["ServiceMonitor"]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= metrics["metadata"]["labels"].items()
    assert not monitor["selector"]["matchLabels"].items() <= app["metadata"]["labels"].items()
    assert [endpoint["port"] for endpoint in monitor["endpoints"]] == [metrics["spec"]["ports"][0]["name"]]


def test_the_network_policy_lets_in_the_app_port_and_out_only_dns_redis_https_and_otlp() -> None:
    policy = manifests()["NetworkPolicy"]["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    app, metrics = policy["ingress"]
    assert app["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert metrics["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert metrics["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    egress = [{(port["port"], port["protocol"]) for port in rule["ports"]} for rule in policy["egress"]]
    assert egress == [{(53, "UDP"), (53, "TCP")}, {(6379, "TCP"), (6380, "TCP"), (26379, "TCP")}, {(443, "TCP")},
                      {(4317, "TCP"), (4318, "TCP")}]  # each rule one purpose, at the index the file's comment says
    assert all("to" not in rule for rule in policy["egress"])  # narrowed by a patch (docs/operators/kubernetes.md)


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
    assert selects(found["Service/agent-approvals-metrics"]["spec"]["selector"])
    monitor = found["ServiceMonitor"]["spec"]
    service = found["Service/agent-approvals-metrics"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["metadata"]["labels"][monitor["jobLabel"]] == ALERT_JOB
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]} and endpoint["path"] == "/metrics"
    allowed = {port["port"] for rule in found["NetworkPolicy"]["spec"]["ingress"] for port in rule["ports"]}
    assert allowed == {"http", "metrics"}


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
    assert 'ENTRYPOINT ["python", "-m", "bot"]' in dockerfile


def test_the_images_base_is_pinned_by_digest_and_the_offline_build_replaces_it() -> None:
    """Every stage is FROM BASE_IMAGE, whose default is the official slim Python 3.11 on bookworm by the digest of
    its index (a tag moves); scripts/build_image.py keeps that default unless given a base (CI's debootstrap one,
    offline: `localhost/...`, never pulled)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE) == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    (base,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, flags=re.MULTILINE)
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim-bookworm@sha256:[0-9a-f]{64}", base), base
    build_image = script("build_image")
    assert build_image.base_args(None) == ["--pull=false"]  # the Dockerfile's pinned default
    assert build_image.base_args(build_image.ROOTFS_IMAGE) == [
        "--pull=never", "--build-arg", "BASE_IMAGE=localhost/debian-python:bookworm"]


def test_the_image_carries_the_teams_and_otel_extras_and_its_check_imports_the_exporter() -> None:
    """The tracing page works on the image: the otel extra is installed (the Dockerfile, and the wheels
    scripts/build_image.py gathers for it), and scripts/check_image.py imports the OTLP exporter inside it."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "'slack-agent-approvals[teams,otel]'" in dockerfile
    assert script("build_image").EXTRAS == "[teams,otel]"
    assert "otel" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "opentelemetry.exporter.otlp.proto.http.trace_exporter" in (ROOT / "scripts/check_image.py").read_text()


def script(name: str) -> ModuleType:
    """scripts/NAME.py, loaded (it is no package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
