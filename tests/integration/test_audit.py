"""The audit log on a real control plane (`cluster up --local` turns it on): one record per write, each with
the identity and the user agent of the component that made it; no reads, leases or events by default."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import yaml

from kubelab import manifests
from kubelab.client import Client

from .conftest import control_plane_fixture

cluster = control_plane_fixture("audit", hollow_nodes=2)

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: audited}
spec:
  replicas: 2
  selector: {matchLabels: {app: audited}}
  template:
    metadata: {labels: {app: audited}}
    spec:
      containers: [{name: app, image: kubelab/hello:v1}]
"""


def _events(info: dict[str, Any]) -> list[dict[str, Any]]:
    path = Path(info["state_path"]) / "logs" / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait(info: dict[str, Any], done: Any, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        evs = _events(info)
        if done(evs) or time.monotonic() > deadline:
            return evs
        time.sleep(0.3)


def test_every_write_is_recorded_with_who_made_it(cluster: dict[str, Any]) -> None:
    async def apply() -> str:
        async with Client(cluster["server"], cluster["token"]) as c:
            obj = await c.create(manifests.from_dict(yaml.safe_load(DEPLOYMENT)))
            return obj.metadata.uid
    asyncio.run(apply())

    def binds_done(evs: list[dict[str, Any]]) -> bool:
        return len([e for e in evs if e.get("objectRef", {}).get("subresource") == "binding"
                    and e["objectRef"]["name"].startswith("audited-")]) >= 2
    evs = _wait(cluster, binds_done)
    ours = [e for e in evs if e.get("objectRef", {}).get("name", "").startswith("audited")]

    create = [e for e in ours if e["verb"] == "create" and e["objectRef"]["resource"] == "deployments"]
    assert len(create) == 1, ours
    assert create[0]["responseStatus"]["code"] == 201 and create[0]["objectRef"]["apiGroup"] == "apps"
    assert create[0]["stage"] == "ResponseComplete" and create[0]["level"] == "Metadata"
    assert create[0]["objectRef"]["resourceVersion"]

    rs = [e for e in ours if e["verb"] == "create" and e["objectRef"]["resource"] == "replicasets"]
    assert rs and rs[0]["userAgent"].startswith("kube-controller-manager/"), rs
    pods = [e for e in ours if e["verb"] == "create" and e["objectRef"]["resource"] == "pods"
            and "subresource" not in e["objectRef"]]
    assert len(pods) == 2 and all(e["userAgent"].startswith("kube-controller-manager/") for e in pods), pods
    binds = [e for e in ours if e["objectRef"].get("subresource") == "binding"]
    assert len(binds) == 2 and all(e["userAgent"].startswith("kube-scheduler/") for e in binds), binds
    # each component with its own credential (lab/identities.py): who made a write, not only with what
    assert {e["user"]["username"] for e in binds} == {"system:kube-scheduler"}
    assert {e["user"]["username"] for e in rs + pods} == {"system:kube-controller-manager"}
    # one record per write: no auditID twice, every record complete
    ids = [e["auditID"] for e in evs]
    assert len(ids) == len(set(ids))
    assert {e["stage"] for e in evs} == {"ResponseComplete"}
    # the default policy leaves out reads, leases and events
    assert not [e for e in evs if e["verb"] in ("get", "list", "watch")]
    assert not [e for e in evs if e.get("objectRef", {}).get("resource") in ("leases", "events")]


def test_a_refused_write_is_recorded_with_its_status(cluster: dict[str, Any]) -> None:
    async def twice() -> None:
        async with Client(cluster["server"], cluster["token"]) as c:
            obj = manifests.from_dict(yaml.safe_load(DEPLOYMENT.replace("name: audited}", "name: audited-twice}")))
            await c.create(obj)
            try:
                await c.create(obj)
            except Exception:  # noqa: BLE001 - AlreadyExists is what we want recorded
                pass
    asyncio.run(twice())
    evs = _wait(cluster, lambda evs: any(e.get("responseStatus", {}).get("code") == 409 for e in evs), 20)
    refused = [e for e in evs if e.get("responseStatus", {}).get("code") == 409]
    assert refused and refused[0]["objectRef"]["name"] == "audited-twice"
    assert "already exists" in refused[0]["responseStatus"]["message"]


def test_http_writes_are_in_the_same_log(cluster: dict[str, Any]) -> None:
    """The HTTP API's writes pass the same audit log, with the client's own user agent."""
    import ssl
    import urllib.request
    ca = Path(cluster["ca_file"]).read_bytes()
    ctx = ssl.create_default_context(cadata=ca.decode())
    body = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "audited-over-http"}}).encode()
    req = urllib.request.Request(f"{cluster['https']}/api/v1/namespaces", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {cluster['token']}",
                                          "Content-Type": "application/json", "User-Agent": "audit-test/1.0"})
    with urllib.request.urlopen(req, context=ctx) as r:
        assert r.status == 201
    evs = _wait(cluster, lambda evs: any(e.get("objectRef", {}).get("name") == "audited-over-http" for e in evs), 20)
    [ev] = [e for e in evs if e.get("objectRef", {}).get("name") == "audited-over-http"]
    assert (ev["verb"], ev["objectRef"]["resource"], ev["responseStatus"]["code"]) == ("create", "namespaces", 201)
    assert ev["userAgent"] == "audit-test/1.0" and ev["user"]["username"] == "admin"
    assert ev["requestURI"] == "/api/v1/namespaces" and ev["objectRef"]["resourceVersion"]
