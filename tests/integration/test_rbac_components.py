"""The bootstrap roles are enough: the scheduler and the controller manager, each run with its own identity
(system:kube-scheduler, system:kube-controller-manager from a --token-auth-file), elect their leaders,
converge a Deployment and bind its pods, and are refused nothing."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from kubelab.client import Client
from tests.harness.manifests import deployment_manifest
from tests.harness.scheduler import make_node
from tests.integration.conftest import launched


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("rbac-components")
    token_file = tmp / "tokens.csv"
    token_file.write_text("admin-token,admin,0,system:masters\n"
                          "scheduler-token,system:kube-scheduler,1\n"
                          "cm-token,system:kube-controller-manager,2\n")
    with launched(tmp, components=("scheduler", "controller-manager"),
                  extra_args={"apiserver": ["--token-auth-file", str(token_file)],
                              "scheduler": ["--token", "scheduler-token"],
                              "controller-manager": ["--token", "cm-token"]}) as info:
        yield info


async def test_components_work_under_their_own_identities(cluster: dict[str, Any]) -> None:
    async with Client(cluster["server"], "admin-token") as admin:
        for n in ("n1", "n2"):
            await admin.create(make_node(n))
        await admin.create(deployment_manifest("web", "default", 3, "nginx"))
        deadline = time.monotonic() + 60
        while True:
            pods, _ = await admin.list("Pod", "default", label_selector="component=web")
            deployment = await admin.get("Deployment", "web", "default")
            if len(pods) == 3 and all(p.spec.node_name for p in pods) and deployment.status.replicas == 3:
                break
            assert time.monotonic() < deadline, (f"pods {[(p.metadata.name, p.spec.node_name) for p in pods]}, "
                                                 f"deployment status {deployment.status}")
            await asyncio.sleep(0.2)
        leases, _ = await admin.list("Lease", "kube-system")
        holders = {lease.metadata.name: lease.spec.holder_identity for lease in leases}
        assert holders.get("kube-scheduler") and holders.get("kube-controller-manager"), holders
    logs = Path(cluster["state_path"]) / "logs"
    for name in ("scheduler", "controller-manager"):
        text = (logs / f"{name}.log").read_text(errors="replace")
        assert "Forbidden" not in text and "forbidden" not in text, text[-3000:]
