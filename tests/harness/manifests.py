"""Test harness: the manifests the tests create, each written once.

For the CLI (`kubelab apply -f -`, the e2e tier), YAML: `sleeping_pod` (a Pod of one sleeping container) and
`deployment` (a Deployment of one container labelled app=NAME); what a test needs besides goes in as YAML
lines of the pod spec. For a client's `create` (the integration tier, the controllers' harness), API objects:
`deployment_manifest` (a Deployment like the seeds' nginx-deployment, with its strategy's knobs) and
`replicaset_manifest`.
"""
from __future__ import annotations

from google.protobuf import struct_pb2

from kubelab.v1 import objects_pb2 as pb


def sleeping_pod(name: str, image: str = "kubelab/busybox", container: str = "app", labels: str = "",
                 spec: str = "") -> str:
    """A Pod whose one container sleeps an hour; `labels` a YAML flow map's members (`load: x`), `spec` more
    lines of the pod spec, two spaces in."""
    meta = f"{{name: {name}, labels: {{{labels}}}}}" if labels else f"{{name: {name}}}"
    return f"""
apiVersion: v1
kind: Pod
metadata: {meta}
spec:
{spec}  containers:
  - {{name: {container}, image: {image}, command: [sleep, "3600"]}}
"""


def deployment(name: str, replicas: int, container: str, spec: str = "") -> str:
    """A Deployment of `replicas` pods labelled app=`name`; `container` its one container as a YAML flow map's
    members (`name: app, image: kubelab/web`), `spec` more lines of the pod spec, six spaces in."""
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
{spec}      containers:
      - {{{container}}}
"""


def replicaset_manifest(name: str, namespace: str, replicas: int, image: str = "nginx:1.15") -> pb.ReplicaSet:
    """A ReplicaSet of `replicas` pods labelled app=`name`, one container."""
    rs = pb.ReplicaSet(api_version="apps/v1", kind="ReplicaSet")
    rs.metadata.name, rs.metadata.namespace = name, namespace
    rs.spec.replicas = replicas
    rs.spec.selector.match_labels["app"] = name
    rs.spec.template.metadata.labels["app"] = name
    rs.spec.template.spec.containers.add(name="nginx", image=image)
    return rs


def deployment_manifest(name: str, namespace: str, replicas: int, image: str, surge: int | str = "25%",
                        unavailable: int | str = "25%", ready_delay: float | None = None,
                        progress_deadline: int | None = None, strategy: str = "RollingUpdate",
                        min_ready: int = 0) -> pb.Deployment:
    """A Deployment like the seeds' nginx-deployment: `replicas` pods labelled component=`name`, one container
    `nginx` of `image`; `ready_delay` is the hollow kubelet's delay before a pod is Ready."""
    def v(x: int | str) -> struct_pb2.Value:
        return struct_pb2.Value(number_value=x) if isinstance(x, int) else struct_pb2.Value(string_value=x)
    d = pb.Deployment(api_version="apps/v1", kind="Deployment")
    d.metadata.name, d.metadata.namespace = name, namespace
    d.metadata.labels["component"] = name
    d.spec.replicas = replicas
    d.spec.min_ready_seconds = min_ready
    d.spec.selector.match_labels["component"] = name
    t = d.spec.template
    t.metadata.labels["component"] = name
    if ready_delay is not None:
        t.metadata.annotations["hollow.kubelab.io/ready-delay"] = str(ready_delay)
    t.spec.containers.add(name="nginx", image=image)
    d.spec.strategy.type = strategy
    if strategy == "RollingUpdate":
        d.spec.strategy.rolling_update.max_surge.CopyFrom(v(surge))
        d.spec.strategy.rolling_update.max_unavailable.CopyFrom(v(unavailable))
    if progress_deadline is not None:
        d.spec.progress_deadline_seconds = progress_deadline
    return d
