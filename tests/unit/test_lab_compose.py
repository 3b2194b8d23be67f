"""The compose lab's files and its bootstrap (lab/compose.py, compose.yaml, compose.ha.yaml), without Docker:
who mounts which credential, what the bootstrap service writes, what more nodes and --ha add."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubelab import config as kubeconfig
from lab import compose

ROOT = Path(compose.__file__).resolve().parents[1]


def _services(*files: str) -> dict[str, Any]:
    """The services of compose files merged as compose does for what is checked here (keys replaced,
    environment merged)."""
    merged: dict[str, Any] = {}
    for f in files:
        for name, svc in yaml.safe_load((ROOT / f).read_text())["services"].items():
            base = merged.setdefault(name, {})
            env = {**(base.get("environment") or {}), **(svc.get("environment") or {})}
            base.update(svc)
            if env:
                base["environment"] = env
    return merged


def _mounts(svc: dict[str, Any]) -> dict[str, str]:
    """target → source of a service's volumes."""
    out = {}
    for v in svc.get("volumes") or []:
        source, target = v.split(":")[:2]
        out[target] = source
    return out


def test_only_the_bootstrap_and_the_apiservers_mount_the_secrets_volume() -> None:
    services = _services("compose.yaml", "compose.ha.yaml")
    holders = {name for name, svc in services.items() if "secrets" in _mounts(svc).values()}
    assert holders == {"bootstrap", "apiserver", "apiserver2"}


@pytest.mark.parametrize("files", [("compose.yaml",), ("compose.yaml", "compose.ha.yaml")])
def test_each_component_mounts_its_own_credential_and_no_other(files: tuple[str, ...]) -> None:
    services = _services(*files)
    for name, svc in services.items():
        mounts = _mounts(svc)
        creds = {src for src in mounts.values() if src.endswith("-credentials")}
        if name == "bootstrap":
            continue
        if name.startswith("node"):
            assert mounts.get("/etc/kubernetes") == f"{name}-credentials" and creds == {f"{name}-credentials"}
            assert svc["environment"]["KUBECONFIG"] == "/etc/kubernetes/kubelet.conf"
            assert "KUBELAB_SERVER" not in svc["environment"]          # the kubelet reads kubelet.conf
        elif name.startswith("proxy"):
            assert creds == {"proxy-credentials"}
        elif name.rstrip("2") in ("scheduler", "controller-manager", "dns"):
            assert creds == {f"{name.rstrip('2')}-credentials"}, name
        else:
            assert creds == set(), name


def test_in_the_ha_lab_every_client_knows_both_apiservers() -> None:
    services = _services("compose.yaml", "compose.ha.yaml")
    for name in ("scheduler", "scheduler2", "controller-manager", "controller-manager2", "dns", "proxy1"):
        assert services[name]["environment"]["KUBELAB_SERVER"] == "apiserver:6443,apiserver2:6443", name
    assert services["bootstrap"]["environment"]["KUBELAB_CLUSTER_SERVERS"] == "apiserver:6443,apiserver2:6443"
    assert services["scheduler"]["environment"] != _services("compose.yaml")["scheduler"]["environment"]


def test_the_bootstrap_writes_each_credential_where_its_component_mounts_it(tmp_path: Path) -> None:
    compose.bootstrap(tmp_path / "secrets", tmp_path / "host", "config", "127.0.0.1:6443,127.0.0.1:6444",
                      tmp_path / "pki", nodes=2, credentials=tmp_path / "credentials",
                      cluster_servers="apiserver:6443,apiserver2:6443")
    homes = sorted(p.name for p in (tmp_path / "credentials").iterdir())
    assert homes == ["controller-manager", "dns", "node1", "node2", "proxy", "scheduler"]
    conf = yaml.safe_load((tmp_path / "credentials" / "node2" / "kubelet.conf").read_text())
    assert conf["users"][0]["name"] == "system:node:node2"
    assert kubeconfig.grpc_address_of(conf, "kubernetes") == "apiserver:6443,apiserver2:6443"
    host = kubeconfig.connection(kubeconfig.load(tmp_path / "host" / "config"), "kubelab")
    assert host.server == "127.0.0.1:6443,127.0.0.1:6444"
    assert host.token == (tmp_path / "secrets" / "token").read_text().strip()


def test_more_nodes_bring_their_own_credential_volumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBELAB_LAB_STATE", str(tmp_path))
    path = compose._node_override(5, ha=True)
    assert path is not None
    doc = yaml.safe_load(path.read_text())
    assert doc["volumes"] == {"node4-credentials": {"name": "kubelab-node4-credentials"},
                              "node5-credentials": {"name": "kubelab-node5-credentials"}}
    assert doc["services"]["bootstrap"]["volumes"] == ["node4-credentials:/credentials/node4",
                                                       "node5-credentials:/credentials/node5"]
    assert _mounts(doc["services"]["node5"])["/etc/kubernetes"] == "node5-credentials"
    assert doc["services"]["proxy5"]["environment"]["KUBELAB_SERVER"] == "apiserver:6443,apiserver2:6443"
    assert compose._node_override(3) is None
