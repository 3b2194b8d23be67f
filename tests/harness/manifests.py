"""Manifests the tests apply with `kubelab apply -f -`, written once: a Pod of one sleeping container, a
Deployment of one container labelled app=NAME. What a test needs besides goes in as YAML lines of the pod spec."""
from __future__ import annotations


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
