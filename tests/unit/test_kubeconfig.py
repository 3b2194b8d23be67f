"""The kubeconfig `cluster up` writes for kubectl (kubelab.config): merged with what is there, made current,
removed by `cluster down`; kubelab's gRPC address rides along as an extension the kubelab CLI reads."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from kubelab import config


@pytest.fixture
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "kube" / "config"
    monkeypatch.setenv("KUBECONFIG", f"{path}:{tmp_path / 'second'}")
    monkeypatch.setenv("KUBELAB_CONFIG", str(tmp_path / "kubelab-config"))
    monkeypatch.delenv("KUBELAB_SERVER", raising=False)
    monkeypatch.delenv("KUBELAB_TOKEN", raising=False)
    return path


def test_the_first_path_of_kubeconfig_is_written_merged_and_made_current(kubeconfig: Path) -> None:
    assert config.kubeconfig_path() == kubeconfig
    kubeconfig.parent.mkdir(parents=True)
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "work",
        "clusters": [{"name": "work", "cluster": {"server": "https://work:6443"}}],
        "users": [{"name": "work", "user": {"token": "w"}}],
        "contexts": [{"name": "work", "context": {"cluster": "work", "user": "work"}}]}))
    config.write_kube_context("https://127.0.0.1:7443", b"CA PEM", "tok", "127.0.0.1:7000")
    cfg = yaml.safe_load(kubeconfig.read_text())
    assert cfg["current-context"] == "kubelab"
    assert [c["name"] for c in cfg["clusters"]] == ["work", "kubelab"]
    cluster = cfg["clusters"][1]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:7443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA PEM"
    assert config.grpc_address_of(cfg, "kubelab") == "127.0.0.1:7000"
    assert kubeconfig.stat().st_mode & 0o077 == 0          # it holds a token
    conn = config.kube_connection()
    assert (conn.server, conn.ca_pem, conn.token, conn.context) == ("https://127.0.0.1:7443", b"CA PEM", "tok",
                                                                   "kubelab")
    # a second `cluster up` replaces its own entries, never duplicates them
    config.write_kube_context("https://127.0.0.1:8443", b"CA2", "tok2", "127.0.0.1:8000")
    cfg = yaml.safe_load(kubeconfig.read_text())
    assert [c["name"] for c in cfg["clusters"]] == ["work", "kubelab"]
    assert cfg["clusters"][1]["cluster"]["server"] == "https://127.0.0.1:8443"


def test_cluster_down_removes_only_its_entries(kubeconfig: Path) -> None:
    config.write_kube_context("https://127.0.0.1:7443", b"CA", "tok", "127.0.0.1:7000")
    cfg = yaml.safe_load(kubeconfig.read_text())
    cfg["contexts"].append({"name": "other", "context": {"cluster": "kubelab", "user": "kubelab"}})
    kubeconfig.write_text(yaml.safe_dump(cfg))
    assert config.remove_kube_context() is True
    cfg = yaml.safe_load(kubeconfig.read_text())
    assert cfg["clusters"] == [] and cfg["users"] == [] and [c["name"] for c in cfg["contexts"]] == ["other"]
    assert cfg["current-context"] == ""
    assert config.remove_kube_context() is False


def test_the_kubelab_cli_follows_the_kubeconfig_when_its_own_config_names_no_context(kubeconfig: Path) -> None:
    config.write_kube_context("https://127.0.0.1:7443", b"CA", "tok", "127.0.0.1:7000", namespace="team")
    conn = config.connection()
    assert (conn.server, conn.token, conn.namespace, conn.context) == ("127.0.0.1:7000", "tok", "team", "kubelab")
