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


# ------------------------------------------------------------------ status subresource (audit 7)
def status_errors_of(text: str) -> list[str]:
    """What a status write of this object would be refused for (the stored object is the same one)."""
    [doc] = manifests.parse_text(text, "t")
    strat = S[doc.obj.kind]
    strat.default(doc.obj)
    return [str(e) for e in strat.validate_status(doc.obj, doc.obj)]


NODE_STATUS = "apiVersion: v1\nkind: Node\nmetadata: {name: n}\nstatus:\n  %s\n"
POD_STATUS = POD % "" + "status:\n  %s\n"
WORKLOAD = """apiVersion: apps/v1
kind: %s
metadata: {name: w}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec: {containers: [{name: c, image: i}]%s}
"""


@pytest.mark.parametrize("text,expected", [
    pytest.param(NODE_STATUS % "capacity: {cpu: lots}", 'status.capacity.cpu: Invalid value: "lots": quantities must',
                 id="node-capacity-not-a-quantity"),
    pytest.param(NODE_STATUS % "allocatable: {pods: '-5'}",
                 'status.allocatable.pods: Invalid value: "-5": must be greater than or equal to 0',
                 id="node-allocatable-negative"),
    pytest.param(NODE_STATUS % "addresses: [{type: InternalIP, address: garbage}]",
                 'status.addresses[0].address: Invalid value: "garbage": must be a valid IP address',
                 id="node-internal-ip-not-an-ip"),
    pytest.param(NODE_STATUS % "addresses: [{type: ExternalIP, address: garbage}]",
                 'status.addresses[0].address: Invalid value: "garbage"', id="node-external-ip-not-an-ip"),
    pytest.param(NODE_STATUS % "conditions: [{type: Ready, status: Maybe}]",
                 'status.conditions[0].status: Unsupported value: "Maybe": supported values: "True", "False", '
                 '"Unknown"', id="node-condition-status"),
    pytest.param(POD_STATUS % "phase: Bogus", 'status.phase: Unsupported value: "Bogus"', id="pod-phase"),
    pytest.param(POD_STATUS % "podIP: garbage", 'status.podIP: Invalid value: "garbage": must be a valid IP address',
                 id="pod-ip"),
    pytest.param(POD_STATUS % "podIPs: [{ip: nope}]", 'status.podIPs[0].ip: Invalid value: "nope": must be a valid IP '
                 'address', id="pod-ips"),
    pytest.param(POD_STATUS % "hostIP: nope", 'status.hostIP: Invalid value: "nope"', id="host-ip"),
    pytest.param(POD_STATUS % "containerStatuses: [{name: c, restartCount: -3}]",
                 "status.containerStatuses[0].restartCount: Invalid value: -3: must be greater than or equal to 0",
                 id="pod-restart-count"),
    pytest.param(POD_STATUS % "initContainerStatuses: [{name: c, restartCount: -1}]",
                 "status.initContainerStatuses[0].restartCount: Invalid value: -1", id="pod-init-restart-count"),
    pytest.param(POD_STATUS % "conditions: [{type: Ready, status: Maybe}]", 'status.conditions[0].status: Unsupported',
                 id="pod-condition-status"),
    pytest.param(WORKLOAD % ("Deployment", "") + "status: {replicas: -5}",
                 "status.replicas: Invalid value: -5: must be greater than or equal to 0", id="deployment-replicas"),
    pytest.param(WORKLOAD % ("Deployment", "") + "status: {unavailableReplicas: -1}",
                 "status.unavailableReplicas: Invalid value: -1", id="deployment-unavailable"),
    pytest.param(WORKLOAD % ("ReplicaSet", "") + "status: {replicas: -5}",
                 "status.replicas: Invalid value: -5: must be greater than or equal to 0", id="replicaset-replicas"),
    pytest.param(WORKLOAD % ("ReplicaSet", "") + "status: {readyReplicas: -2}", "status.readyReplicas: Invalid value: -2",
                 id="replicaset-ready"),
])
def test_status_writes_are_validated(text: str, expected: str) -> None:
    errs = status_errors_of(text)
    assert any(expected in e for e in errs), errs


@pytest.mark.parametrize("text", [
    pytest.param(NODE_STATUS % "{capacity: {cpu: '4', memory: 16Gi, pods: '110'}, addresses: [{type: InternalIP, "
                 "address: 172.16.0.1}, {type: Hostname, address: node-1}], conditions: [{type: Ready, "
                 "status: Unknown}]}", id="node-as-kubelet-and-nodelifecycle-write-it"),
    pytest.param(POD_STATUS % "{phase: Running, hostIP: 172.16.0.1, podIP: 10.0.0.5, podIPs: [{ip: 10.0.0.5}], "
                 "containerStatuses: [{name: c, restartCount: 2}], conditions: [{type: Ready, status: 'True'}]}",
                 id="pod-as-kubelet-writes-it"),
    pytest.param(POD_STATUS % "{phase: Pending}", id="pod-pending-without-ips"),
    pytest.param(WORKLOAD % ("Deployment", "") + "status: {replicas: 3, updatedReplicas: 3, readyReplicas: 2, "
                 "availableReplicas: 2, unavailableReplicas: 1, observedGeneration: 4, conditions: "
                 "[{type: Progressing, status: 'True'}]}", id="deployment"),
])
def test_statuses_components_write_pass(text: str) -> None:
    assert status_errors_of(text) == []


# ------------------------------------------------------------------ Services (audit 12)
SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec:\n  %s\n"


def service_errors(spec: str, name: str = "s") -> list[str]:
    return errors_of(SERVICE % (name, spec))


@pytest.mark.parametrize("spec,expected", [
    pytest.param("{type: NodePort, ports: [{port: 80, name: a, nodePort: 30100}, {port: 81, name: b, nodePort: 30100}]}",
                 "spec.ports[1].nodePort: Duplicate value: 30100", id="duplicate-node-port"),
    pytest.param("{ports: [{port: 80}], clusterIP: 10.96.5.5, clusterIPs: [10.96.5.6]}",
                 'spec.clusterIPs[0]: Invalid value: "10.96.5.6": must match `clusterIP` when both are specified',
                 id="cluster-ips-mismatch"),
    pytest.param("{ports: [{port: 80}], clusterIPs: [garbage]}",
                 'Invalid value: "garbage": must be a valid IP address', id="cluster-ips-not-an-ip"),
    pytest.param("{type: NodePort, clusterIP: None, ports: [{port: 80}]}",
                 "spec.clusterIP: Invalid value: \"None\": may not be set to 'None' for NodePort services",
                 id="headless-node-port"),
    pytest.param("{type: LoadBalancer, clusterIP: None, ports: [{port: 80}]}",
                 "may not be set to 'None' for LoadBalancer services", id="headless-load-balancer"),
    pytest.param("{type: ExternalName}", "spec.externalName: Required value", id="external-name-missing"),
    pytest.param("{type: ExternalName, externalName: 'not a host!'}",
                 'spec.externalName: Invalid value: "not a host!": a lowercase RFC 1123 subdomain',
                 id="external-name-not-dns"),
    pytest.param("{type: ExternalName, externalName: example.com, clusterIP: 10.96.0.9}",
                 "spec.clusterIPs: Forbidden: may not be set for ExternalName services", id="external-name-cluster-ip"),
    pytest.param("{ports: [{port: 80}], sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: "
                 "{timeoutSeconds: -5}}}", "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: -5: "
                 "must be greater than 0 and less than 86400", id="affinity-timeout-negative"),
    pytest.param("{ports: [{port: 80}], sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: "
                 "{timeoutSeconds: 86401}}}", "timeoutSeconds: Invalid value: 86401", id="affinity-timeout-too-long"),
    pytest.param("{ports: [{port: 80}], sessionAffinityConfig: {clientIP: {timeoutSeconds: 10}}}",
                 "spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None",
                 id="affinity-config-without-client-ip"),
    pytest.param("{ports: [{port: 80}], internalTrafficPolicy: Weird}",
                 'spec.internalTrafficPolicy: Unsupported value: "Weird": supported values: "Cluster", "Local"',
                 id="internal-traffic-policy"),
    pytest.param("{ports: [{port: 80}], externalIPs: [nope]}",
                 'spec.externalIPs[0]: Invalid value: "nope": must be a valid IP address', id="external-ips"),
    pytest.param("{type: LoadBalancer, ports: [{port: 80}], loadBalancerIP: nope}",
                 'spec.loadBalancerIP: Invalid value: "nope": must be a valid IP address', id="load-balancer-ip"),
    pytest.param("{ports: [{port: 80, appProtocol: 'a b'}]}", 'spec.ports[0].appProtocol: Invalid value: "a b"',
                 id="app-protocol"),
    pytest.param("{ports: [{port: 80, name: Web_1}]}", 'spec.ports[0].name: Invalid value: "Web_1": a lowercase RFC '
                 "1123 label must consist of lower case alphanumeric characters or '-'", id="port-name-not-a-label"),
])
def test_service_validation(spec: str, expected: str) -> None:
    errs = service_errors(spec)
    assert any(expected in e for e in errs), errs


def test_service_names_are_dns1035_labels() -> None:
    errs = service_errors("{ports: [{port: 80}]}", name="1abc")
    assert errs == ['metadata.name: Invalid value: "1abc": a DNS-1035 label must consist of lower case alphanumeric '
                    "characters or '-', start with an alphabetic character, and end with an alphanumeric character "
                    "(e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"]


@pytest.mark.parametrize("spec", [
    pytest.param("{type: NodePort, ports: [{port: 53, name: a, nodePort: 30053}, {port: 53, name: b, protocol: UDP, "
                 "nodePort: 30053}]}", id="same-node-port-other-protocol"),
    pytest.param("{clusterIP: None, ports: [{port: 80}]}", id="headless"),
    pytest.param("{clusterIP: None, clusterIPs: [None], ports: [{port: 80}]}", id="headless-as-stored"),
    pytest.param("{clusterIPs: [10.96.0.20], ports: [{port: 80}]}", id="cluster-ips-alone"),
    pytest.param("{type: ExternalName, externalName: example.com.}", id="external-name-fqdn"),
    # what `kubectl create service clusterip web --tcp=80:8080` sends: a DNS-1123 label, no letter needed
    pytest.param("{ports: [{name: 80-8080, port: 80, targetPort: 8080}]}", id="kubectl-create-service-port-name"),
    pytest.param("{ports: [{port: 80, appProtocol: kubernetes.io/h2c}], sessionAffinity: ClientIP, "
                 "sessionAffinityConfig: {clientIP: {timeoutSeconds: 10800}}, externalIPs: [192.0.2.1]}",
                 id="everything-valid"),
])
def test_valid_services_pass(spec: str) -> None:
    assert service_errors(spec) == []


def _service_update_errors(old_spec: str, new_spec: str) -> list[str]:
    [old] = manifests.parse_text(SERVICE % ("s", old_spec), "t")
    [new] = manifests.parse_text(SERVICE % ("s", new_spec), "t")
    strat = S["Service"]
    strat.default(old.obj)
    new.obj.metadata.CopyFrom(old.obj.metadata)
    strat.default(new.obj)
    strat.prepare_update(new.obj, old.obj)
    return [str(e) for e in strat.validate_update(new.obj, old.obj)]


def test_service_cluster_ips_are_immutable() -> None:
    old = "{ports: [{port: 80}], clusterIP: 10.96.0.20, clusterIPs: [10.96.0.20]}"
    errs = _service_update_errors(old, "{ports: [{port: 80}], clusterIP: 10.96.0.20, clusterIPs: [10.96.9.9]}")
    assert 'spec.clusterIPs: Invalid value: "10.96.9.9": field is immutable' in errs, errs
    # Applying the manifest again without clusterIP(s), or with clusterIP alone, keeps both.
    assert _service_update_errors(old, "{ports: [{port: 80}]}") == []
    assert _service_update_errors(old, "{ports: [{port: 80}], clusterIP: 10.96.0.20}") == []


def test_service_becoming_external_name_drops_its_cluster_ip() -> None:
    old = "{ports: [{port: 80}], clusterIP: 10.96.0.20, clusterIPs: [10.96.0.20]}"
    [o] = manifests.parse_text(SERVICE % ("s", old), "t")
    [n] = manifests.parse_text(SERVICE % ("s", old), "t")
    S["Service"].default(o.obj)
    S["Service"].default(n.obj)
    n.obj.spec.type, n.obj.spec.external_name = "ExternalName", "example.com"
    S["Service"].prepare_update(n.obj, o.obj)
    assert (n.obj.spec.cluster_ip, list(n.obj.spec.cluster_ips)) == ("", [])
    assert [str(e) for e in S["Service"].validate_update(n.obj, o.obj)] == []


def test_allocation_keys_of_one_node_port_per_protocol() -> None:
    """The duplicate nodePort validation refuses is the one case where two ports would share one allocation key."""
    from apiserver.allocators import Allocators
    [doc] = manifests.parse_text(SERVICE % ("s", "{type: NodePort, ports: [{port: 53, name: a, nodePort: 30053}, "
                                                  "{port: 53, name: b, protocol: UDP, nodePort: 30053}]}"), "t")
    S["Service"].default(doc.obj)
    assert len(Allocators("10.96.0.0/16", (30000, 32767)).keys_of(doc.obj)) == 2


# ------------------------------------------------------------------ pods and the rest (audit 13)
POD_SPEC = """apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: nginx
%s
"""


def _indent(text: str, by: int) -> str:
    return "\n".join(" " * by + line for line in text.splitlines())


@pytest.mark.parametrize("container,pod,expected", [
    pytest.param("resources: {requests: {'bad name!': '1'}}", "",
                 'spec.containers[0].resources.requests[bad name!]: Invalid value: "bad name!"', id="resource-name-bad"),
    pytest.param("resources: {limits: {foo: '1'}}", "",
                 'spec.containers[0].resources.limits[foo]: Invalid value: "foo": must be a standard resource type or '
                 "fully qualified", id="resource-name-not-standard"),
    pytest.param("env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]", "",
                 'spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when `value` is not empty',
                 id="env-value-and-value-from"),
    pytest.param("env: [{name: A, valueFrom: {fieldRef: {fieldPath: spec.bogus}}}]", "",
                 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "spec.bogus"',
                 id="env-field-path"),
    pytest.param("", "affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: "
                 "[{matchExpressions: [{key: a, operator: Bogus, values: [x]}]}]}}}",
                 'nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value: "Bogus": not a valid selector '
                 "operator", id="node-affinity-operator"),
    pytest.param("", "affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: "
                 "[{matchExpressions: [{key: a, operator: Gt, values: [notanumber]}]}]}}}",
                 'matchExpressions[0].values[0]: Invalid value: "notanumber": must be an integer', id="node-affinity-gt"),
    pytest.param("", "affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: "
                 "[{matchExpressions: [{key: a, operator: Lt, values: ['1', '2']}]}]}}}",
                 "must be specified single value when `operator` is 'Lt' or 'Gt'", id="node-affinity-lt-two-values"),
    pytest.param("", "affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 1000, "
                 "preference: {matchExpressions: [{key: a, operator: Exists}]}}]}}",
                 "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: "
                 "1000: must be in the range 1-100", id="preferred-weight"),
    pytest.param("", "nodeSelector: {'bad key!': v}", 'spec.nodeSelector: Invalid value: "bad key!"',
                 id="node-selector-key"),
    pytest.param("", "tolerations: [{key: k, operator: Exists, value: x}]",
                 "spec.tolerations[0].operator: Invalid value: \"x\": value must be empty when `operator` is 'Exists'",
                 id="toleration-exists-with-value"),
    pytest.param("", "tolerations: [{operator: Equal, value: x}]",
                 'spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty',
                 id="toleration-empty-key-equal"),
    pytest.param("", "tolerations: [{key: k, operator: Exists, effect: Sometimes}]",
                 'spec.tolerations[0].effect: Unsupported value: "Sometimes"', id="toleration-effect"),
    pytest.param("", "activeDeadlineSeconds: -5",
                 "spec.activeDeadlineSeconds: Invalid value: -5: must be between 1 and 2147483647, inclusive",
                 id="active-deadline-negative"),
    pytest.param("", "dnsPolicy: None",
                 "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None", id="dns-none"),
    pytest.param("", "volumes: [{name: v, hostPath: {path: /x}, emptyDir: {}}]",
                 "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type", id="two-volume-sources"),
    pytest.param("", "volumes: [{name: v, emptyDir: {sizeLimit: garbage}}]",
                 'spec.volumes[0].emptyDir.sizeLimit: Invalid value: "garbage"', id="size-limit"),
])
def test_pod_spec_validation(container: str, pod: str, expected: str) -> None:
    text = POD_SPEC % ((_indent(container, 4) + "\n" if container else "") + _indent(pod, 2))
    errs = errors_of(text)
    assert any(expected in e for e in errs), errs


@pytest.mark.parametrize("container,pod", [
    pytest.param("resources: {limits: {cpu: '1', memory: 1Gi, ephemeral-storage: 1Gi, hugepages-2Mi: 2Mi, "
                 "example.com/gpu: '1'}}", "", id="standard-and-extended-resources"),
    pytest.param("env: [{name: A, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}, "
                 "{name: B, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]", "", id="env-field-paths"),
    pytest.param("", "affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: "
                 "[{matchExpressions: [{key: a, operator: Gt, values: ['3']}]}]}, "
                 "preferredDuringSchedulingIgnoredDuringExecution: [{weight: 100, preference: "
                 "{matchExpressions: [{key: b, operator: DoesNotExist}]}}]}}", id="node-affinity"),
    pytest.param("", "tolerations: [{operator: Exists}, {key: k, operator: Exists, effect: NoExecute, "
                 "tolerationSeconds: 30}, {key: k, value: v, effect: NoSchedule}]", id="tolerations"),
    pytest.param("", "activeDeadlineSeconds: 30\nvolumes: [{name: v, emptyDir: {sizeLimit: 1Gi}}]", id="deadline"),
])
def test_valid_pod_specs_pass(container: str, pod: str) -> None:
    text = POD_SPEC % ((_indent(container, 4) + "\n" if container else "") + _indent(pod, 2))
    assert errors_of(text) == []



@pytest.mark.parametrize("text,expected", [
    pytest.param(POD_SPEC.replace("{name: p}", "{name: p, finalizers: ['Bad Finalizer']}") % "",
                 'metadata.finalizers[0]: Invalid value: "Bad Finalizer"', id="finalizer-not-a-name"),
    pytest.param(POD_SPEC.replace("{name: p}", "{name: p, finalizers: [mine]}") % "",
                 'metadata.finalizers[0]: Invalid value: "mine": name is neither a standard finalizer name nor is it '
                 "fully qualified", id="finalizer-not-qualified"),
    pytest.param(POD_SPEC.replace("{name: p}", "{name: p, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, "
                                               "name: rs}]}") % "",
                 'metadata.ownerReferences[0].uid: Invalid value: "": uid must not be empty', id="owner-without-uid"),
    pytest.param(POD_SPEC.replace("{name: p}", "{name: p, ownerReferences: [{kind: ReplicaSet, name: rs, uid: u}]}")
                 % "", 'metadata.ownerReferences[0].apiVersion: Invalid value: "": version must not be empty',
                 id="owner-without-api-version"),
    pytest.param("apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: {taints: [{key: 'bad key!', effect: "
                 "NoSchedule}]}\n", 'spec.taints[0].key: Invalid value: "bad key!"', id="taint-key"),
    pytest.param("apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: {taints: [{key: k, effect: NoSchedule}, "
                 "{key: k, value: other, effect: NoSchedule}]}\n",
                 'spec.taints[1]: Duplicate value: "k:NoSchedule": taints must be unique by key and effect pair',
                 id="taint-duplicate"),
    pytest.param("apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: {taints: [{key: k}]}\n",
                 "spec.taints[0].effect: Required value", id="taint-without-effect"),
    pytest.param("apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: {podCIDR: garbage}\n",
                 'spec.podCIDR: Invalid value: "garbage": must be a valid CIDR value', id="pod-cidr"),
    pytest.param("apiVersion: v1\nkind: Endpoints\nmetadata: {name: e}\nsubsets: [{addresses: [{ip: garbage}], "
                 "ports: [{port: 80}]}]\n", 'subsets[0].addresses[0].ip: Invalid value: "garbage": must be a valid IP',
                 id="endpoints-address"),
    pytest.param("apiVersion: v1\nkind: Endpoints\nmetadata: {name: e}\nsubsets: [{notReadyAddresses: [{ip: ''}], "
                 "ports: [{port: 80}]}]\n", 'subsets[0].notReadyAddresses[0].ip: Invalid value: ""',
                 id="endpoints-empty-address"),
    pytest.param("apiVersion: v1\nkind: Endpoints\nmetadata: {name: e}\nsubsets: [{ports: [{port: 80, protocol: xx}]}]\n",
                 'subsets[0].ports[0].protocol: Unsupported value: "xx"', id="endpoints-protocol"),
    pytest.param("apiVersion: v1\nkind: Endpoints\nmetadata: {name: e}\nsubsets: [{ports: [{port: 80, "
                 "name: Bad Name}]}]\n", 'subsets[0].ports[0].name: Invalid value: "Bad Name"', id="endpoints-port-name"),
    pytest.param("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\n"
                 "spec: {minAvailable: 1, unhealthyPodEvictionPolicy: Whatever}\n",
                 'spec.unhealthyPodEvictionPolicy: Unsupported value: "Whatever": supported values: "AlwaysAllow", '
                 '"IfHealthyBudget"', id="pdb-eviction-policy"),
    pytest.param("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: l}\n"
                 "spec: {leaseDurationSeconds: -5}\n",
                 "spec.leaseDurationSeconds: Invalid value: -5: must be greater than 0", id="lease-duration"),
    pytest.param(WORKLOAD % ("Deployment", ", activeDeadlineSeconds: 30"),
                 "spec.template.spec.activeDeadlineSeconds: Invalid value: 30: activeDeadlineSeconds in ReplicaSet is "
                 "not Supported", id="deployment-template-deadline"),
    pytest.param(WORKLOAD % ("ReplicaSet", ", activeDeadlineSeconds: 30"),
                 "activeDeadlineSeconds in ReplicaSet is not Supported", id="replicaset-template-deadline"),
])
def test_other_kinds_validation(text: str, expected: str) -> None:
    errs = errors_of(text)
    assert any(expected in e for e in errs), errs


@pytest.mark.parametrize("text", [
    pytest.param(POD_SPEC.replace("{name: p}", "{name: p, finalizers: [foregroundDeletion, example.com/x], "
                                               "ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: rs, "
                                               "uid: u, controller: true}]}") % "", id="finalizers-and-owner"),
    pytest.param("apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: {podCIDR: 10.0.1.0/24, taints: "
                 "[{key: k, effect: NoSchedule}, {key: k, effect: NoExecute}]}\n", id="node"),
    pytest.param("apiVersion: v1\nkind: Endpoints\nmetadata: {name: e}\nsubsets: [{addresses: [{ip: 10.0.0.5}], "
                 "ports: [{port: 80, name: http}, {port: 53, name: dns, protocol: UDP}]}]\n", id="endpoints"),
    pytest.param("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: l}\n"
                 "spec: {holderIdentity: x, leaseDurationSeconds: 15}\n", id="lease"),
])
def test_other_valid_objects_pass(text: str) -> None:
    assert errors_of(text) == []


def test_an_int_or_string_beyond_int32_is_refused_by_the_server_too() -> None:
    """The loader refuses it in manifests; a client that builds the proto itself meets the same rule."""
    text = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchLabels: {a: b}}\n"
            "  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: i}]}\n")
    [doc] = manifests.parse_text(text, "t")
    doc.obj.spec.strategy.rolling_update.max_surge.number_value = 1e20
    S["Deployment"].default(doc.obj)
    errs = [str(e) for e in S["Deployment"].validate(doc.obj)]
    assert any("spec.strategy.rollingUpdate.maxSurge: Invalid value: 100000000000000000000: must be between "
               "-2147483648 and 2147483647, inclusive" in e for e in errs), errs


def test_namespace_finalizers_are_finalizer_names() -> None:
    errs = errors_of("apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\nspec: {finalizers: [kubernetes, "
                     "example.com/cleanup, 'bad finalizer!']}\n")
    assert len(errs) == 1 and errs[0].startswith('spec.finalizers[2]: Invalid value: "bad finalizer!"'), errs
