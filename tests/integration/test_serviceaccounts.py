"""ServiceAccounts on a real control plane (`cluster up --local`: etcd, the apiserver with the lab's signing key,
the controller manager): the `default` account and its controller, the pod admission as `get pod -o yaml`
shows it, TokenRequest over HTTP and gRPC, tokens used as bearer tokens (authenticated, then authorized by
RBAC), what makes a token stop working (forged, expired, another audience, its pod or account gone),
NodeRestriction for kubelets, `kubelab create token` and the real kubectl 1.37's `create token`, and no
token in the audit log.
"""
from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import jwt
import pytest

from apiserver import serviceaccount as sat
from kubelab.client import Client
from tests import realclients
from tests.harness.wait import wait_until
from tests.integration.conftest import launched

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NODE_HEADERS = {"Impersonate-User": "system:node:n1", "Impersonate-Group": "system:nodes"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with launched(tmp_path_factory.mktemp("serviceaccounts"), components=("controller-manager",)) as info:
        for node in ("n1", "n2"):
            http(info, "POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
        yield info


def http(info: dict[str, Any], method: str, path: str, body: Any = None, token: str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    ctx = ssl.create_default_context(cafile=info["ca_file"])
    h = {"Authorization": f"Bearer {info['token'] if token is None else token}", "Accept": "application/json",
         **(headers or {})}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(info["https"] + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def ok(result: tuple[int, Any], code: int = 200) -> Any:
    assert result[0] == code, result
    return result[1]


def pod_doc(name: str, node: str = "", **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx"}], **spec}
    if node:
        s["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": s}


def create_token(info: dict[str, Any], sa: str, ns: str = "default", code: int = 201, token: str | None = None,
                 headers: dict[str, str] | None = None, **spec: Any) -> Any:
    return ok(http(info, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
                   {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
                   token=token, headers=headers), code)


# ------------------------------------------------------------------ the default ServiceAccount
def test_every_namespace_has_a_default_account_made_again_when_deleted(cluster: dict[str, Any]) -> None:
    ok(http(cluster, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": "team"}}), 201)
    first = ok(http(cluster, "GET", "/api/v1/namespaces/team/serviceaccounts/default"))
    ok(http(cluster, "GET", "/api/v1/namespaces/kube-system/serviceaccounts/default"))
    ok(http(cluster, "DELETE", "/api/v1/namespaces/team/serviceaccounts/default"))

    def again() -> Any:
        code, doc = http(cluster, "GET", "/api/v1/namespaces/team/serviceaccounts/default")
        return doc if code == 200 else None
    back = wait_until(again, 20, "the default serviceaccount made again", 0.2)
    assert back, "the serviceaccount controller did not make default again"
    assert back["metadata"]["uid"] != first["metadata"]["uid"]


# ------------------------------------------------------------------ admission
def test_a_pod_gets_its_account_and_the_token_volume_as_kubernetes_shows_them(cluster: dict[str, Any]) -> None:
    created = ok(http(cluster, "POST", "/api/v1/namespaces/default/pods", pod_doc("shown")), 201)
    spec = ok(http(cluster, "GET", "/api/v1/namespaces/default/pods/shown"))["spec"]
    assert spec == created["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    (volume,) = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == len("kube-api-access-") + 5
    assert volume["projected"] == {
        "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                                 "fieldPath": "metadata.namespace"}}]}}],
        "defaultMode": 420}
    assert spec["containers"][0]["volumeMounts"] == [{"name": volume["name"], "readOnly": True,
                                                      "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]


def test_automounting_can_be_turned_off_by_the_pod_or_its_account(cluster: dict[str, Any]) -> None:
    ok(http(cluster, "POST", "/api/v1/namespaces/default/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "quiet"},
             "automountServiceAccountToken": False}), 201)
    off = ok(http(cluster, "POST", "/api/v1/namespaces/default/pods",
                  pod_doc("no-token", automountServiceAccountToken=False)), 201)
    by_sa = ok(http(cluster, "POST", "/api/v1/namespaces/default/pods", pod_doc("quiet", serviceAccountName="quiet")),
               201)
    for doc in (off, by_sa):
        assert "volumes" not in doc["spec"] and "volumeMounts" not in doc["spec"]["containers"][0]


def test_a_pod_naming_a_missing_account_is_refused_and_nothing_is_written(cluster: dict[str, Any]) -> None:
    code, status = http(cluster, "POST", "/api/v1/namespaces/default/pods", pod_doc("orphan", serviceAccountName="ghost"))
    assert code == 403 and status["reason"] == "Forbidden"
    assert status["message"] == ('pods "orphan" is forbidden: error looking up service account default/ghost: '
                                 'serviceaccount "ghost" not found')
    assert http(cluster, "GET", "/api/v1/namespaces/default/pods/orphan")[0] == 404


# ------------------------------------------------------------------ tokens: issued, used, refused
def test_a_requested_token_authenticates_as_its_account_and_rbac_decides(cluster: dict[str, Any]) -> None:
    doc = create_token(cluster, "default", expirationSeconds=600)
    token = doc["status"]["token"]
    assert doc["kind"] == "TokenRequest" and doc["spec"]["expirationSeconds"] == 600
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "system:serviceaccount:default:default" and claims["iss"] == sat.DEFAULT_ISSUER
    assert claims["exp"] - claims["iat"] == 600
    code, status = http(cluster, "GET", "/api/v1/namespaces/default/pods", token=token)
    assert code == 403 and 'User "system:serviceaccount:default:default" cannot list resource "pods"' in \
        status["message"]
    ok(http(cluster, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "sa-view"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
             "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}]}), 201)
    assert wait_until(lambda: http(cluster, "GET", "/api/v1/namespaces/default/pods", token=token)[0] == 200,
                      20, "the token accepted", 0.2)
    ok(http(cluster, "DELETE", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/sa-view"))

    async def whoami() -> Any:
        async with Client(cluster["server"], token, retries=0) as c:
            return await c.stub.WhoAmI(__import__("kubelab.v1.api_pb2", fromlist=["x"]).WhoAmIRequest(),
                                       metadata=c._metadata)
    me = asyncio.run(whoami())
    assert me.username == "system:serviceaccount:default:default"
    assert list(me.groups) == ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]


def test_tokens_over_grpc_and_their_refusals(cluster: dict[str, Any]) -> None:
    async def body() -> None:
        async with Client(cluster["server"], cluster["token"], retries=0) as c:
            resp = await c.create_token("default", "default", expiration_seconds=900)
            assert resp.expiration_seconds == 900 and resp.token.count(".") == 2
            from kubelab import errors
            with pytest.raises(errors.Invalid, match="may not specify a duration less than 10 minutes"):
                await c.create_token("default", "default", expiration_seconds=60)
            with pytest.raises(errors.NotFound, match='serviceaccounts "nobody" not found'):
                await c.create_token("nobody", "default")
    asyncio.run(body())


def test_forged_expired_and_foreign_tokens_are_unauthorized(cluster: dict[str, Any]) -> None:
    good = create_token(cluster, "default")["status"]["token"]
    assert http(cluster, "GET", "/api/v1/namespaces/default/serviceaccounts/default", token=good)[0] == 403
    claims = jwt.decode(good, options={"verify_signature": False})
    # the lab's own key signs an expired one (as if an hour had passed)
    key = (Path(cluster["state_dir"]) / "pki" / "sa.key").read_bytes()
    lab = sat.TokenAuthority(key, lambda *a: None)
    expired = lab.sign(dict(claims, iat=claims["iat"] - 7200, nbf=claims["nbf"] - 7200, exp=claims["iat"] - 3600))
    forged = sat.TokenAuthority(sat.new_signing_key(), lambda *a: None).sign(claims)
    foreign = create_token(cluster, "default", audiences=["https://vault.example"])["status"]["token"]
    for token in (expired, forged, foreign, good[:-6] + "AAAAAA"):
        code, status = http(cluster, "GET", "/api/v1/namespaces/default/pods", token=token)
        assert (code, status["reason"], status["message"]) == (401, "Unauthorized", "Unauthorized")


def test_a_pod_bound_token_stops_working_with_its_pod_and_an_account_token_with_its_account(
        cluster: dict[str, Any]) -> None:
    ok(http(cluster, "POST", "/api/v1/namespaces/default/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}), 201)
    pod = ok(http(cluster, "POST", "/api/v1/namespaces/default/pods", pod_doc("bound", serviceAccountName="robot")),
             201)
    bound = create_token(cluster, "robot", boundObjectRef={"kind": "Pod", "apiVersion": "v1", "name": "bound",
                                                           "uid": pod["metadata"]["uid"]})["status"]["token"]
    assert jwt.decode(bound, options={"verify_signature": False})["kubernetes.io"]["pod"] == \
        {"name": "bound", "uid": pod["metadata"]["uid"]}
    plain = create_token(cluster, "robot")["status"]["token"]
    assert http(cluster, "GET", "/api/v1/namespaces/default/pods", token=bound)[0] == 403    # known, not allowed
    # a pod of another account, or another uid, cannot have it
    assert create_token(cluster, "default", code=400, boundObjectRef={"kind": "Pod", "name": "bound"})["message"] \
        == 'cannot bind token for serviceaccount "default" to pod running with different serviceaccount name.'
    create_token(cluster, "robot", code=409, boundObjectRef={"kind": "Pod", "name": "bound", "uid": "stale"})
    ok(http(cluster, "DELETE", "/api/v1/namespaces/default/pods/bound?gracePeriodSeconds=0"))
    assert wait_until(lambda: http(cluster, "GET", "/api/v1/namespaces/default/pods", token=bound)[0] == 401,
                      20, "the bound token refused", 0.2)
    assert http(cluster, "GET", "/api/v1/namespaces/default/pods", token=plain)[0] == 403
    ok(http(cluster, "DELETE", "/api/v1/namespaces/default/serviceaccounts/robot"))
    assert wait_until(lambda: http(cluster, "GET", "/api/v1/namespaces/default/pods", token=plain)[0] == 401,
                      20, "the plain token refused", 0.2)


# ------------------------------------------------------------------ kubelets: NodeRestriction
def test_a_kubelet_gets_tokens_only_for_its_own_pods(cluster: dict[str, Any]) -> None:
    mine = ok(http(cluster, "POST", "/api/v1/namespaces/default/pods", pod_doc("on-n1", node="n1")), 201)
    ok(http(cluster, "POST", "/api/v1/namespaces/default/pods", pod_doc("on-n2", node="n2")), 201)
    ok(http(cluster, "POST", "/api/v1/namespaces/default/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "elsewhere"}}), 201)
    ref = {"kind": "Pod", "apiVersion": "v1", "name": "on-n1", "uid": mine["metadata"]["uid"]}
    doc = create_token(cluster, "default", headers=NODE_HEADERS, boundObjectRef=ref)
    assert jwt.decode(doc["status"]["token"], options={"verify_signature": False})["kubernetes.io"]["node"]["name"] \
        == "n1"
    assert create_token(cluster, "default", code=403, headers=NODE_HEADERS,
                        boundObjectRef={"kind": "Pod", "name": "on-n2"})["message"] == \
        'serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node'
    assert create_token(cluster, "default", code=403, headers=NODE_HEADERS)["message"] == \
        'serviceaccounts "default" is forbidden: node requested token not bound to a pod'
    refused = create_token(cluster, "elsewhere", code=403, headers=NODE_HEADERS)["message"]
    assert refused.endswith("no relationship found between node 'n1' and this object")


# ------------------------------------------------------------------ the CLIs
def kubelab_cli(cluster: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBELAB_SERVER": cluster["server"], "KUBELAB_TOKEN": cluster["token"]}
    return subprocess.run([sys.executable, "-m", "kubectl.main", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=60)


def test_kubelab_create_token(cluster: dict[str, Any]) -> None:
    r = kubelab_cli(cluster, "create", "token", "default", "--duration", "10m", "--audience", "api",
                    "--audience", sat.DEFAULT_ISSUER)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600 and claims["aud"] == ["api", sat.DEFAULT_ISSUER]
    assert http(cluster, "GET", "/api/v1/namespaces/default/pods", token=token)[0] == 403    # authenticated
    r = kubelab_cli(cluster, "create", "token", "default", "--duration", "5m")
    assert r.returncode == 1 and "may not specify a duration less than 10 minutes" in r.stderr
    r = kubelab_cli(cluster, "create", "token", "nobody")
    assert r.returncode == 1 and 'serviceaccounts "nobody" not found' in r.stderr


def test_real_kubectl_creates_a_token(cluster: dict[str, Any]) -> None:
    binary = realclients.kubectl_137()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cluster["home"]), "KUBECONFIG": cluster["kubeconfig"]}
    r = subprocess.run([str(binary), "create", "token", "default", "--duration", "20m"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 1200 and claims["sub"] == "system:serviceaccount:default:default"
    r = subprocess.run([str(binary), "--token", token, "get", "pods"], capture_output=True, text=True, env=env,
                       timeout=60)       # kubectl with that token is the account: known, and not allowed to list
    assert r.returncode == 1 and 'User "system:serviceaccount:default:default" cannot list resource "pods"' in \
        r.stderr, r.stderr
    r = subprocess.run([str(binary), "create", "token", "default", "--duration", "1m"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 1 and "may not specify a duration less than 10 minutes" in r.stderr


def test_no_token_reaches_the_audit_log(cluster: dict[str, Any]) -> None:
    token = create_token(cluster, "default")["status"]["token"]
    http(cluster, "GET", "/api/v1/namespaces/default/pods", token=token)
    log = Path(cluster["state_dir"]) / "logs" / "audit.log"
    text = wait_until(lambda: log.read_text() if '"subresource":"token"' in log.read_text().replace(" ", "") else "",
                      20, "the token request in the audit log", 0.2)
    assert text, "the token request was not audited"
    assert token not in text and token.split(".")[2] not in text
    records = [json.loads(line) for line in text.splitlines() if '"token"' in line]
    assert any(r["objectRef"].get("subresource") == "token" and r["verb"] == "create" for r in records)
