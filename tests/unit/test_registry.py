"""Per-kind defaulting and validation, without a server."""
from __future__ import annotations

import pytest

from apiserver.registry import strategies
from kubelab import manifests

S = strategies()

POD = """apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: nginx%s
"""


def errors_of(text: str) -> list[str]:
    [doc] = manifests.parse_text(text, "t")
    strat = S[doc.obj.kind]
    strat.default(doc.obj)
    return [str(e) for e in strat.validate(doc.obj)]


@pytest.mark.parametrize("extra,expected", [
    pytest.param("\n    ports: [{containerPort: 0}]", "spec.containers[0].ports[0].containerPort: Invalid value: 0",
                 id="port-0"),
    pytest.param("\n    livenessProbe: {periodSeconds: 3}", "spec.containers[0].livenessProbe: Required value: "
                 "must specify a handler type", id="probe-without-handler"),
    pytest.param("\n    livenessProbe: {tcpSocket: {port: 80}, successThreshold: 2}",
                 "livenessProbe.successThreshold: Invalid value: 2: must be 1", id="liveness-success-threshold"),
    pytest.param("\n    resources: {requests: {cpu: 2}, limits: {cpu: 1}}",
                 "must be less than or equal to cpu limit", id="request-over-limit"),
    pytest.param("\n    resources: {requests: {memory: 12x}}", "resources.requests.memory: Invalid value: \"12x\"",
                 id="bad-quantity"),
    pytest.param("\n    volumeMounts: [{name: nope, mountPath: /x}]", "volumeMounts[0].name: Invalid value: \"nope\"",
                 id="mount-of-missing-volume"),
])
def test_pod_validation(extra: str, expected: str) -> None:
    errs = errors_of(POD % extra)
    assert any(expected in e for e in errs), errs


def test_pod_defaults() -> None:
    [doc] = manifests.parse_text(POD % ":latest" + "    readinessProbe: {httpGet: {port: 80}}\n"
                                 "    resources: {limits: {cpu: 500m}}\n", "t")
    S["Pod"].default(doc.obj)
    c = doc.obj.spec.containers[0]
    assert c.image_pull_policy == "Always" and doc.obj.spec.restart_policy == "Always"
    assert (c.readiness_probe.period_seconds, c.readiness_probe.timeout_seconds,
            c.readiness_probe.failure_threshold) == (10, 1, 3)
    assert c.resources.requests["cpu"] == "500m"     # a limit alone sets the request


@pytest.mark.parametrize("surge,unavailable,ok", [
    ("1", "0", True), ("0", "1", True), ("25%", "25%", True), ("0", "0", False), ("101%", "0", False),
    ("-1", "1", False),
])
def test_rolling_update_parameters(surge: str, unavailable: str, ok: bool) -> None:
    text = (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n"
            f"  selector: {{matchLabels: {{a: b}}}}\n  strategy: {{rollingUpdate: {{maxSurge: {surge}, "
            f"maxUnavailable: {unavailable}}}}}\n  template:\n    metadata: {{labels: {{a: b}}}}\n"
            f"    spec: {{containers: [{{name: c, image: i}}]}}\n")
    assert (errors_of(text) == []) == ok


def test_service_defaults_target_port_and_type() -> None:
    [doc] = manifests.parse_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 8080}]}\n",
                                 "t")
    S["Service"].default(doc.obj)
    assert doc.obj.spec.type == "ClusterIP" and doc.obj.spec.ports[0].target_port.number_value == 8080


def test_services_are_single_stack_ipv4() -> None:
    [doc] = manifests.parse_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n",
                                 "t")
    S["Service"].default(doc.obj)
    assert (doc.obj.spec.ip_family_policy, list(doc.obj.spec.ip_families)) == ("SingleStack", ["IPv4"])
    [external] = manifests.parse_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
                                      "spec: {type: ExternalName, externalName: example.com}\n", "t")
    S["Service"].default(external.obj)
    assert (external.obj.spec.ip_family_policy, list(external.obj.spec.ip_families)) == ("", [])


@pytest.mark.parametrize("spec,expected", [
    pytest.param("ipFamilyPolicy: RequireDualStack", 'spec.ipFamilyPolicy: Invalid value: "RequireDualStack": '
                 "this cluster is not configured for dual-stack services", id="require-dual-stack"),
    pytest.param("ipFamilyPolicy: Sometimes", 'spec.ipFamilyPolicy: Unsupported value: "Sometimes"', id="policy"),
    pytest.param("ipFamilies: [IPv6]", 'spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster',
                 id="ipv6"),
    pytest.param("ipFamilies: [IPv5]", 'spec.ipFamilies[0]: Unsupported value: "IPv5"', id="family"),
])
def test_service_ip_families_this_cluster_cannot_serve(spec: str, expected: str) -> None:
    errs = errors_of(f"apiVersion: v1\nkind: Service\nmetadata: {{name: s}}\nspec:\n  ports: [{{port: 80}}]\n"
                     f"  {spec}\n")
    assert any(expected in e for e in errs), errs


def test_workload_labels_are_not_copied_from_the_template() -> None:
    """apps/v1: a Deployment without labels has none (`describe` says <none>, `label deploy x app-` sticks)."""
    [doc] = manifests.parse_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
                                 "  selector: {matchLabels: {app: d}}\n  template:\n    metadata: {labels: {app: d}}\n"
                                 "    spec: {containers: [{name: c, image: i}]}\n", "t")
    S["Deployment"].default(doc.obj)
    assert dict(doc.obj.metadata.labels) == {}


def test_pdb_min_and_max_are_exclusive() -> None:
    errs = errors_of("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\n"
                     "spec: {minAvailable: 1, maxUnavailable: 1}\n")
    assert any("cannot be both set" in e for e in errs)


HOST_NETWORK_POD = """apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  hostNetwork: true
  containers:
  - name: c
    image: kubelab/web
    ports: [%s]
"""


def test_host_network_ports_are_host_ports() -> None:
    [doc] = manifests.parse_text(HOST_NETWORK_POD % "{containerPort: 8080}", "t")
    S["Pod"].default(doc.obj)
    assert doc.obj.spec.containers[0].ports[0].host_port == 8080
    assert [str(e) for e in S["Pod"].validate(doc.obj)] == []


def test_host_network_host_port_must_match() -> None:
    assert errors_of(HOST_NETWORK_POD % "{containerPort: 8080, hostPort: 9090}") == [
        "spec.containers[0].ports[0].hostPort: Invalid value: 9090: must match `containerPort` when "
        "`hostNetwork` is true"]
