"""Identities and RBAC over the gRPC API, against `cluster up --local` with a --token-auth-file.

Per identity (admin, view, edit, the scheduler, the controller manager, a node's kubelet, a stranger): what
it may and may not do. A refusal is Forbidden in Kubernetes' words and writes nothing (etcd's revision does
not move); escalation (a Role or binding granting what its author lacks) is refused; `auth can-i` and
`auth whoami` answer through the real CLI.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import pytest

from kubelab import errors
from kubelab.client import Client
from kubelab.kinds import RBAC_GROUP
from kubelab.v1 import objects_pb2 as pb
from tests.integration.conftest import etcd_revision, launched

ROOT = Path(__file__).resolve().parents[2]

TOKENS = {
    "admin": ("admin-token", "system:masters"),
    "view": ("view-token", ""),
    "edit": ("edit-token", ""),
    "team-admin": ("team-token", ""),
    "system:kube-scheduler": ("scheduler-token", ""),
    "system:kube-controller-manager": ("cm-token", ""),
    "system:node:n1": ("node1-token", "system:nodes"),
    "stranger": ("stranger-token", ""),
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("rbac")
    token_file = tmp / "tokens.csv"
    token_file.write_text("".join(f'{tok},{user},uid-{i},"{groups}"\n'
                                  for i, (user, (tok, groups)) in enumerate(TOKENS.items())))
    with launched(tmp, components=(), extra_args={"apiserver": ["--token-auth-file", str(token_file)]}) as info:
        asyncio.run(_seed(info["server"]))
        yield info


def _client(info: dict[str, Any], user: str, pipeline: bool = False) -> Client:
    return Client(info["server"], TOKENS[user][0], retries=0, pipeline=pipeline)


def _binding(kind: str, name: str, role: str, user: str, namespace: str = "") -> Any:
    b = (pb.RoleBinding if kind == "RoleBinding" else pb.ClusterRoleBinding)(
        api_version=f"{RBAC_GROUP}/v1", kind=kind, role_ref=pb.RoleRef(api_group=RBAC_GROUP, kind="ClusterRole",
                                                                       name=role))
    b.metadata.name, b.metadata.namespace = name, namespace
    b.subjects.add(kind="User", name=user, api_group=RBAC_GROUP)
    return b


def _pod(name: str, node: str = "", namespace: str = "default") -> pb.Pod:
    p = pb.Pod(api_version="v1", kind="Pod")
    p.metadata.name, p.metadata.namespace = name, namespace
    p.spec.containers.add(name="c", image="nginx")
    p.spec.node_name = node
    return p


def _node(name: str) -> pb.Node:
    n = pb.Node(api_version="v1", kind="Node")
    n.metadata.name = name
    return n


def _deployment(name: str) -> pb.Deployment:
    d = pb.Deployment(api_version="apps/v1", kind="Deployment")
    d.metadata.name, d.metadata.namespace = name, "default"
    d.spec.selector.match_labels["app"] = name
    d.spec.template.metadata.labels["app"] = name
    d.spec.template.spec.containers.add(name="c", image="nginx")
    return d


async def _seed(server: str) -> None:
    async with Client(server, TOKENS["admin"][0]) as admin:
        ns = pb.Namespace(api_version="v1", kind="Namespace")
        ns.metadata.name = "team"
        await admin.create(ns)
        await admin.create(_binding("ClusterRoleBinding", "view", "view", "view"))
        await admin.create(_binding("RoleBinding", "edit", "edit", "edit", "default"))
        await admin.create(_binding("RoleBinding", "team-admin", "admin", "team-admin", "team"))
        for n in ("n1", "n2"):
            await admin.create(_node(n))
        for name, node in (("on-n1", "n1"), ("on-n2", "n2"), ("unbound", "")):
            await admin.create(_pod(name, node))
        await admin.create(_deployment("web"))


Op = Callable[[Client], Awaitable[Any]]


def _status(name: str) -> Op:
    async def op(c: Client) -> Any:
        p = _pod(name)
        p.status.phase = "Running"
        return await c.update_status(p)
    return op


def _node_status(name: str) -> Op:
    async def op(c: Client) -> Any:
        n = _node(name)
        n.status.conditions.add(type="Ready", status="True")
        return await c.update_status(n)
    return op


OPS: dict[str, Op] = {
    "list-pods": lambda c: c.list("Pod", "default"),
    "get-deployment": lambda c: c.get("Deployment", "web", "default"),
    "create-pod": lambda c: c.create(_pod("new-pod"), dry_run=True),
    "delete-deployment": lambda c: c.delete("Deployment", "web", "default", dry_run=True),
    "create-pod-kube-system": lambda c: c.create(_pod("p", namespace="kube-system"), dry_run=True),
    "bind-pod": lambda c: c.bind("default", "unbound", "n1"),
    "status-of-n1-pod": _status("on-n1"),
    "status-of-n2-pod": _status("on-n2"),
    "status-of-node-n1": _node_status("n1"),
    "status-of-node-n2": _node_status("n2"),
    "list-replicasets": lambda c: c.list("ReplicaSet", "default"),
    "list-clusterroles": lambda c: c.list("ClusterRole"),
    "version": lambda c: c.version(),
}

# identity -> the ops it may do; every other op of OPS is Forbidden to it.
MAY: dict[str, set[str]] = {
    "admin": set(OPS) - {"bind-pod"},          # bind-pod is left for the scheduler (a pod binds once)
    "view": {"list-pods", "get-deployment", "list-replicasets", "version"},
    "edit": {"list-pods", "get-deployment", "create-pod", "delete-deployment", "list-replicasets", "version"},
    "system:kube-scheduler": {"list-pods", "bind-pod", "status-of-n1-pod", "status-of-n2-pod", "version",
                              "list-replicasets"},
    "system:kube-controller-manager": {"list-pods", "get-deployment", "create-pod", "delete-deployment",
                                       "create-pod-kube-system", "status-of-n1-pod", "status-of-n2-pod",
                                       "status-of-node-n1", "status-of-node-n2", "list-replicasets",
                                       "list-clusterroles", "version"},
    "system:node:n1": {"list-pods", "status-of-n1-pod", "status-of-node-n1", "version"},
    "stranger": {"version"},
}
SKIP = {("admin", "bind-pod")}
CASES = [pytest.param(user, op, op in MAY[user], id=f"{user}-{op}") for user in MAY for op in OPS
         if (user, op) not in SKIP]


@pytest.mark.parametrize("user,op,allowed", CASES)
async def test_what_each_identity_may_do(cluster: dict[str, Any], user: str, op: str, allowed: bool) -> None:
    async with _client(cluster, user) as c:
        if allowed:
            await OPS[op](c)
            return
        before = await etcd_revision(cluster)
        with pytest.raises(errors.Forbidden) as e:
            await OPS[op](c)
        assert f'User "{user}" cannot' in e.value.message or f'node "{user.split(":")[-1]}"' in e.value.message
        assert await etcd_revision(cluster) == before


async def test_the_refusal_is_in_kubernetes_words(cluster: dict[str, Any]) -> None:
    async with _client(cluster, "view") as c:
        with pytest.raises(errors.Forbidden) as e:
            await c.create(_pod("x"))
    assert e.value.message == ('pods is forbidden: User "view" cannot create resource "pods" in API group "" in '
                               'the namespace "default"')
    async with _client(cluster, "system:node:n1") as c:
        with pytest.raises(errors.Forbidden) as e:
            await c.delete("Deployment", "web", "default")
    assert e.value.message.startswith('deployments.apps "web" is forbidden: User "system:node:n1" cannot delete')


async def test_pipelined_writes_and_watches_are_authorized_too(cluster: dict[str, Any]) -> None:
    before = await etcd_revision(cluster)
    async with _client(cluster, "view", pipeline=True) as c:
        with pytest.raises(errors.Forbidden):
            await c.create(_pod("piped"))
    async with _client(cluster, "stranger") as c:
        with pytest.raises(errors.Forbidden):
            async for _ in c.watch("Pod", "default"):
                break
    assert await etcd_revision(cluster) == before


async def test_a_wrong_token_is_unauthorized(cluster: dict[str, Any]) -> None:
    async with Client(cluster["server"], "no-such-token", retries=0) as c:
        with pytest.raises(errors.Unauthenticated):
            await c.list("Pod", "default")


def _role(name: str, ns: str, verbs: list[str], resources: list[str]) -> pb.Role:
    r = pb.Role(api_version=f"{RBAC_GROUP}/v1", kind="Role")
    r.metadata.name, r.metadata.namespace = name, ns
    r.rules.add(verbs=verbs, api_groups=[""], resources=resources)
    return r


async def test_escalation_is_refused(cluster: dict[str, Any]) -> None:
    async with _client(cluster, "team-admin") as c:
        await c.create(_role("pod-reader", "team", ["get", "list"], ["pods"]))          # held: allowed
        await c.create(_binding("RoleBinding", "team-edit", "edit", "someone", "team"))  # admin covers edit
        before = await etcd_revision(cluster)
        with pytest.raises(errors.Forbidden) as e:
            await c.create(_role("node-writer", "team", ["update"], ["nodes"]))
        assert e.value.message.startswith(f'roles.{RBAC_GROUP} "node-writer" is forbidden: user "team-admin" '
                                          f'(groups=["system:authenticated"]) is attempting to grant RBAC '
                                          f'permissions not currently held:')
        assert '{APIGroups:[""], Resources:["nodes"], Verbs:["update"]}' in e.value.message
        with pytest.raises(errors.Forbidden, match="attempting to grant RBAC permissions not currently held"):
            await c.create(_binding("RoleBinding", "root", "cluster-admin", "team-admin", "team"))
        with pytest.raises(errors.Forbidden, match="not currently held"):      # a patch that widens a role
            await c.patch("Role", "pod-reader", {"rules": [{"verbs": ["*"], "apiGroups": ["*"],
                                                            "resources": ["*"]}]}, "team", patch_type="merge")
        with pytest.raises(errors.Forbidden):                                  # and nothing outside its namespace
            await c.create(_role("pod-reader", "default", ["get"], ["pods"]))
        assert await etcd_revision(cluster) == before


async def test_invalid_rbac_objects_are_invalid(cluster: dict[str, Any]) -> None:
    async with _client(cluster, "admin") as c:
        with pytest.raises(errors.Invalid, match="verbs must contain at least one value"):
            await c.create(_role("empty", "default", [], ["pods"]))
        b = _binding("RoleBinding", "immutable", "view", "bob", "default")
        await c.create(b)
        b.role_ref.name = "edit"
        with pytest.raises(errors.Invalid, match="cannot change roleRef"):
            await c.update(b)


def _cli(cluster: dict[str, Any], token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBELAB_CONFIG": str(Path(cluster["state_dir"]).parent / "kubeconfig")}
    return subprocess.run([sys.executable, "-m", "kubectl", "-s", cluster["server"], "--token", token, *args],
                          cwd=ROOT, text=True, capture_output=True, env=env, timeout=60)


def test_auth_can_i_and_whoami_through_the_cli(cluster: dict[str, Any]) -> None:
    view, admin = TOKENS["view"][0], TOKENS["admin"][0]
    r = _cli(cluster, view, "auth", "can-i", "list", "pods")
    assert (r.returncode, r.stdout) == (0, "yes\n"), r.stderr
    r = _cli(cluster, view, "auth", "can-i", "create", "pods", "-n", "default")
    assert (r.returncode, r.stdout) == (1, "no\n"), r.stderr
    r = _cli(cluster, admin, "auth", "can-i", "delete", "deployments.apps", "--as", "view")
    assert (r.returncode, r.stdout) == (1, "no\n"), r.stderr
    r = _cli(cluster, admin, "auth", "can-i", "delete", "deploy", "--as", "edit")
    assert (r.returncode, r.stdout) == (0, "yes\n"), r.stderr
    r = _cli(cluster, view, "auth", "can-i", "get", "pods", "--as", "admin")   # view may not impersonate
    assert r.returncode == 1 and 'users "admin" is forbidden: User "view" cannot impersonate resource "users"' \
        in r.stderr, r.stderr
    r = _cli(cluster, view, "auth", "whoami")
    assert r.returncode == 0 and r.stdout.split("\n")[1].split() == ["Username", "view"], r.stdout
    assert "[system:authenticated]" in r.stdout
    r = _cli(cluster, TOKENS["edit"][0], "create", "rolebinding", "x", "--clusterrole=view", "--user=bob")
    assert r.returncode == 1 and "Error from server (Forbidden)" in r.stderr, r.stderr
    r = _cli(cluster, admin, "create", "rolebinding", "sa-view", "--clusterrole=view", "--serviceaccount=default:robot")
    assert (r.returncode, r.stdout) == (0, f"rolebinding.{RBAC_GROUP}/sa-view created\n"), r.stderr
    r = _cli(cluster, admin, "auth", "can-i", "list", "pods", "--as", "system:serviceaccount:default:robot")
    assert (r.returncode, r.stdout) == (0, "yes\n"), r.stderr


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_the_authorizer_follows_roles_and_bindings_as_they_change(cluster: dict[str, Any]) -> None:
    """Decisions come from the watch cache: a Role narrowed or a binding deleted takes effect at once."""
    async with _client(cluster, "admin") as admin, _client(cluster, "stranger") as stranger:
        await admin.create(_role("getter", "default", ["get"], ["pods"]))
        rb = _binding("RoleBinding", "getter", "view", "stranger", "default")
        rb.role_ref.kind, rb.role_ref.name = "Role", "getter"
        await admin.create(rb)

        async def may_get() -> bool:
            try:
                await stranger.get("Pod", "on-n1", "default")
                return True
            except errors.Forbidden:
                return False

        async def may_not_get() -> bool:
            return not await may_get()
        assert await _eventually(may_get)
        narrowed = await admin.get("Role", "getter", "default")
        del narrowed.rules[:]
        narrowed.rules.add(verbs=["get"], api_groups=[""], resources=["services"])
        await admin.update(narrowed)
        assert await _eventually(may_not_get)
        narrowed.rules.add(verbs=["get"], api_groups=[""], resources=["pods"])
        narrowed.metadata.resource_version = ""
        await admin.update(narrowed)
        assert await _eventually(may_get)
        await admin.delete("RoleBinding", "getter", "default")
        assert await _eventually(may_not_get)


async def test_a_bootstrap_role_an_older_version_wrote_is_brought_up_to_date_at_start(cluster: dict[str, Any]) -> None:
    """What the apiserver does at start (apiserver.builtin.ensure_rbac), on real etcd: a bootstrap role that lacks
    a grant (data from an older kubelab) gets it back; one a user opted out of updates stays as the user left it."""
    from apiserver import builtin
    from apiserver.store import Store
    from tests.integration.conftest import etcd_storage
    async with _client(cluster, "admin") as admin:
        proxier = await admin.get("ClusterRole", "system:node-proxier")
        full = list(proxier.rules)
        del proxier.rules[-1]
        await admin.update(proxier)
        edit = await admin.get("ClusterRole", "edit")
        del edit.rules[1:]
        edit.metadata.annotations["rbac.authorization.kubernetes.io/autoupdate"] = "false"
        await admin.update(edit)
        storage = etcd_storage(cluster)
        await storage.start()
        try:
            await builtin.ensure_rbac(Store(storage))
        finally:
            await storage.close()
        assert list((await admin.get("ClusterRole", "system:node-proxier")).rules) == full
        assert len((await admin.get("ClusterRole", "edit")).rules) == 1
