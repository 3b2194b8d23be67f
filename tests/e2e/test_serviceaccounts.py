"""ServiceAccounts in real pods: the official Python client inside a pod, with nothing but what Kubernetes
gives a pod (`config.load_incluster_config()`: the token, ca.crt and namespace the kubelet writes into
/var/run/secrets/kubernetes.io/serviceaccount, KUBERNETES_SERVICE_HOST/PORT), reaches the API at
10.96.0.1:443 through the node's proxy, verifies the lab CA and lists pods: Forbidden before a RoleBinding,
allowed after. The token is bound to the pod (unusable once it is gone) and shows up nowhere it should not:
not in the pod's YAML, describe, events, the components' logs or the audit log.
"""
from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request
from typing import Any

import jwt
import pytest
import yaml

from tests.harness.manifests import sleeping_pod

from .conftest import NAMESPACE, apply, docker, get_json, kubectl, unique, wait_for, wait_running_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _exec(pod: str, *cmd: str, check: bool = True) -> Any:
    return kubectl("exec", pod, "--", *cmd, check=check, timeout=90)


def _api_status(lab: dict[str, Any], token: str) -> int:
    """The status of a GET of this namespace's pods on the lab's HTTPS API (from the host) with `token`."""
    cfg = yaml.safe_load(lab["kube_config"].read_text())
    cluster = cfg["clusters"][0]["cluster"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    req = urllib.request.Request(f"{cluster['server']}/api/v1/namespaces/{NAMESPACE}/pods",
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_the_python_client_in_a_pod_lists_pods_once_its_account_may(lab: dict[str, Any]) -> None:
    name = unique("pyclient")
    binding = unique("sa-view")
    apply(sleeping_pod(name, "kubelab/pyclient:latest", "client"))
    try:
        wait_running_ready(name, timeout=120)
        pod = get_json("pod", name)
        assert pod["spec"]["serviceAccountName"] == "default"
        volume = next(v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-"))

        # What the kubelet wrote: the namespace, the lab CA, a token bound to this very pod.
        assert _exec(name, "cat", f"{SA_DIR}/namespace").stdout == NAMESPACE
        assert "BEGIN CERTIFICATE" in _exec(name, "cat", f"{SA_DIR}/ca.crt").stdout
        token = _exec(name, "cat", f"{SA_DIR}/token").stdout
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["sub"] == f"system:serviceaccount:{NAMESPACE}:default"
        assert claims["kubernetes.io"]["pod"] == {"name": name, "uid": pod["metadata"]["uid"]}
        assert claims["exp"] - claims["iat"] == 3607
        # read-only for the container
        assert _exec(name, "touch", f"{SA_DIR}/x", check=False).returncode != 0
        env = _exec(name, "env").stdout.split()
        assert "KUBERNETES_SERVICE_HOST=10.96.0.1" in env and "KUBERNETES_SERVICE_PORT=443" in env

        # The official client, in-cluster: authenticated as the account (CA verified), not yet allowed.
        before = _exec(name, "incluster", check=False)
        assert before.returncode == 1 and before.stdout.startswith("Forbidden 403"), before.stdout + before.stderr
        assert f'User \\"system:serviceaccount:{NAMESPACE}:default\\" cannot list resource \\"pods\\"' in \
            before.stdout or f'User "system:serviceaccount:{NAMESPACE}:default" cannot list' in before.stdout

        kubectl("create", "rolebinding", binding, "--clusterrole=view", f"--serviceaccount={NAMESPACE}:default")

        def allowed() -> str | None:
            r = _exec(name, "incluster", check=False)
            return r.stdout if r.returncode == 0 else None
        after = wait_for(allowed, 30, "the client to be allowed to list pods")
        assert after.startswith("OK ") and name in after.split(), after

        # The token is in the pod's files only.
        shown = [kubectl("get", "pod", name, "-o", "yaml").stdout, kubectl("get", "pod", name, "-o", "json").stdout,
                 kubectl("describe", "pod", name).stdout, kubectl("get", "events").stdout]
        logs = [docker("logs", c, timeout=60).stdout + docker("logs", c, timeout=60).stderr
                for c in ("kubelab-apiserver", "kubelab-node1", "kubelab-node2", "kubelab-controller-manager")]
        audit = docker("exec", "kubelab-apiserver", "cat", "/var/log/kubernetes/audit.log", check=False).stdout
        signature = token.split(".")[2]
        for text in [*shown, *logs, audit]:
            assert signature not in text
        assert volume["name"] in shown[0] and "serviceAccountToken" in shown[0]

        # Bound to the pod: gone with it.
        assert _api_status(lab, token) == 200
        kubectl("delete", "pod", name, "--grace-period=0", "--force", check=False)
        wait_for(lambda: _api_status(lab, token) == 401, 30, "the pod's token to be refused")
    finally:
        kubectl("delete", "pod", name, "--wait=false", check=False)
        kubectl("delete", "rolebinding", binding, check=False)


def test_a_pod_that_opts_out_gets_no_token(lab: dict[str, Any]) -> None:
    name = unique("no-token")
    apply(sleeping_pod(name, "kubelab/pyclient:latest", "client", spec="  automountServiceAccountToken: false\n"))
    try:
        wait_running_ready(name, timeout=120)
        assert "volumes" not in get_json("pod", name)["spec"]
        r = _exec(name, "ls", SA_DIR, check=False)
        assert r.returncode != 0
        out = _exec(name, "incluster", check=False)         # the client finds no in-cluster credentials
        assert out.returncode != 0 and "Service token file does not exist" in out.stdout + out.stderr
    finally:
        kubectl("delete", "pod", name, "--wait=false", check=False)
