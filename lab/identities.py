"""Who is who in a lab: a credential per component and per node, in Kubernetes' names.

Both launchers (`lab/local.py`, and the compose lab's bootstrap service in `lab/compose.py`) write the
apiserver's `--token-auth-file` (kube-apiserver's CSV: `token,user,uid,"group1,group2"`) from this list
and hand each component its own token, so RBAC and the Node authorizer decide what each may do and the
audit log says who did it. The admin's token (the `--token` of the apiserver, in `system:masters`) is
the people's; a `view` user may read and nothing more.
"""
from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from pathlib import Path

from kubelab import pki


@dataclass(frozen=True)
class Identity:
    file: str                 # the token's file name in the secrets directory
    user: str
    groups: tuple[str, ...] = ()


COMPONENTS = (
    Identity("scheduler.token", "system:kube-scheduler"),
    Identity("controller-manager.token", "system:kube-controller-manager"),
    Identity("proxy.token", "system:kube-proxy"),
    Identity("dns.token", "system:serviceaccount:kube-system:kube-dns",
             ("system:serviceaccounts", "system:serviceaccounts:kube-system")),
    Identity("view.token", "view"),
)


def node_identity(node: str) -> Identity:
    """A kubelet's: `system:node:<name>` in `system:nodes`, what the Node authorizer knows."""
    return Identity(f"{node}.token", f"system:node:{node}", ("system:nodes",))


def identities(nodes: list[str]) -> list[Identity]:
    return list(COMPONENTS) + [node_identity(n) for n in nodes]


def write_tokens(directory: Path, nodes: list[str]) -> dict[str, str]:
    """A token per identity (kept if already there: a restarted lab keeps its credentials), each 0600, and
    `tokens.csv` for the apiserver; returns {file name: token}."""
    pki.secure_dir(directory)
    tokens: dict[str, str] = {}
    rows = io.StringIO()
    w = csv.writer(rows, lineterminator="\n")
    for ident in identities(nodes):
        path = directory / ident.file
        if not path.exists() or not path.read_text().strip():
            pki.write_private(path, secrets.token_urlsafe(24).encode())
        tokens[ident.file] = path.read_text().strip()
        w.writerow([tokens[ident.file], ident.user, f"uid-{ident.user}", ",".join(ident.groups)])
    pki.write_private(directory / "tokens.csv", rows.getvalue().encode())
    return tokens


VIEW_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
    "metadata": {"name": "kubelab-view"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "view"}],
}


async def bind_view(server: str, token: str) -> None:
    """The `view` user may read everything (the `view` ClusterRole), nothing more: its binding, made once."""
    import yaml  # noqa: F401 - manifests needs it loaded
    from kubelab import errors, manifests
    from kubelab.client import Client
    async with Client(server, token, retries=3) as c:
        try:
            await c.create(manifests.from_dict(VIEW_BINDING))
        except errors.AlreadyExists:
            pass
