"""Authorization cost (issue 16): create throughput and p99 with `--authorization-mode Node,RBAC` versus
`AlwaysAllow`, in one run.

Two local clusters (bench/abtest.py: each its own etcd and apiserver, the modes taking turns round by
round), both with a `--token-auth-file` naming a user who is not in `system:masters` (that group is allowed
before any rule is read): `bench-editor`, bound to the ClusterRole `edit` by a RoleBinding in the bench's
namespace, so under RBAC every create is decided by matching the bindings and the role's rules. The
clients are that user in both modes. Target: RBAC costs <= 10 % of create throughput. Prints figures;
asserts nothing.

    python -m bench.bench_rbac [--quick] [--api grpc|http] [--objects 1000] [--clients 20] [--rounds 10]
"""
from __future__ import annotations

import asyncio
import secrets
import tempfile
from pathlib import Path
from typing import Any

from kubelab import errors
from kubelab.client import Client
from kubelab.kinds import RBAC_GROUP
from kubelab.v1 import objects_pb2 as pb

from .abtest import NAMESPACE, Mode, compare, report
from .bench_api import pod
from .bench_audit import parse

USER = "bench-editor"


def role_binding(user: str, namespace: str, role: str = "edit") -> pb.RoleBinding:
    b = pb.RoleBinding(api_version=f"{RBAC_GROUP}/v1", kind="RoleBinding",
                       role_ref=pb.RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name=role))
    b.metadata.name, b.metadata.namespace = f"{user}-{role}", namespace
    b.subjects.add(kind="User", name=user, api_group=RBAC_GROUP)
    return b


async def bind_editor(info: dict[str, Any], token: str) -> None:
    """Bind the user to `edit` in the bench's namespace, and show that RBAC decides for it: the same create
    in another namespace, where nothing binds it, is Forbidden."""
    async with Client(info["server"], info["token"]) as admin:
        await admin.create(role_binding(USER, NAMESPACE))
    async with Client(info["server"], token, retries=0) as user:
        try:
            await user.create(pod("probe", "default"))
        except errors.Forbidden:
            return
        raise SystemExit(f"{USER} created a pod in default: RBAC is not deciding, the comparison would be void")


async def main() -> None:
    args = parse()
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as tmp:
        tokens = Path(tmp) / "tokens.csv"
        tokens.write_text(f"{token},{USER},uid-bench-editor\n")
        tokens.chmod(0o600)
        users = ["--token-auth-file", str(tokens)]
        modes = [Mode("AlwaysAllow", users + ["--authorization-mode", "AlwaysAllow"], token),
                 Mode("Node,RBAC (edit by RoleBinding)", users + ["--authorization-mode", "Node,RBAC"], token,
                      lambda info: bind_editor(info, token))]
        await compare(modes, args.api, args.objects, args.clients, args.rounds)
    for line in report(modes, "authorization cost", args.api, args.objects, args.clients, args.rounds):
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
