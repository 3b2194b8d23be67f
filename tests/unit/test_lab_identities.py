"""The lab's identities (lab/identities.py): a token per component and per node in kube-apiserver's
--token-auth-file format, as the apiserver itself reads it; credentials 0600, kept across restarts."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from apiserver.auth import load_token_file
from kubelab import config as kubeconfig
from lab import identities


def test_the_token_file_names_each_identity_as_kubernetes_does(tmp_path: Path) -> None:
    tokens = identities.write_tokens(tmp_path / "secrets", ["node1", "node2"])
    users = load_token_file(str(tmp_path / "secrets" / "tokens.csv"))
    by_name = {u.name: u for u in users.values()}
    assert set(by_name) == {"system:kube-scheduler", "system:kube-controller-manager", "system:kube-proxy",
                            "system:serviceaccount:kube-system:kube-dns", "view",
                            "system:node:node1", "system:node:node2"}
    assert "system:nodes" in by_name["system:node:node2"].groups
    assert "system:serviceaccounts:kube-system" in by_name["system:serviceaccount:kube-system:kube-dns"].groups
    assert users[tokens["node1.token"]].name == "system:node:node1"
    assert len(set(tokens.values())) == len(tokens)          # no two identities share a credential


def test_credentials_are_private_and_kept_across_restarts(tmp_path: Path) -> None:
    first = identities.write_tokens(tmp_path / "s", ["node1"])
    assert stat.S_IMODE(os.stat(tmp_path / "s").st_mode) == 0o700
    for name in list(first) + ["tokens.csv"]:
        assert stat.S_IMODE(os.stat(tmp_path / "s" / name).st_mode) == 0o600, name
    assert identities.write_tokens(tmp_path / "s", ["node1"]) == first


def test_each_component_gets_its_own_credential_and_nothing_else(tmp_path: Path, monkeypatch: Any) -> None:
    tokens = identities.write_tokens(tmp_path / "secrets", ["node1", "node2"])
    identities.distribute(tokens, ["node1", "node2"], tmp_path / "credentials", "https://apiserver:8443", b"CA",
                          "apiserver:6443,apiserver2:6443", "kubelet-serving")
    homes = {p.name: sorted(f.name for f in p.iterdir()) for p in (tmp_path / "credentials").iterdir()}
    assert homes == {"scheduler": ["scheduler.token"], "controller-manager": ["controller-manager.token"],
                     "dns": ["dns.token"], "proxy": ["proxy.token"],
                     "node1": ["apiserver-kubelet-client.token", "kubelet.conf", "pki"],
                     "node2": ["apiserver-kubelet-client.token", "kubelet.conf", "pki"]}
    # the lab CA where kubeadm puts it: the kubelet gives it to pods as ca.crt beside their token
    assert (tmp_path / "credentials" / "node1" / "pki" / "ca.crt").read_bytes() == b"CA"
    assert (tmp_path / "credentials" / "scheduler" / "scheduler.token").read_text() == tokens["scheduler.token"]
    assert stat.S_IMODE(os.stat(tmp_path / "credentials" / "node1" / "kubelet.conf").st_mode) == 0o600
    # The kubelet finds the apiservers and its own token in kubelet.conf, as kubelab.config reads a kubeconfig.
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "credentials" / "node1" / "kubelet.conf"))
    monkeypatch.setenv("KUBELAB_CONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("KUBELAB_SERVER", raising=False)
    monkeypatch.delenv("KUBELAB_TOKEN", raising=False)
    conn = kubeconfig.connection()
    assert (conn.server, conn.token) == ("apiserver:6443,apiserver2:6443", tokens["node1.token"])
    kube = kubeconfig.kube_connection()
    assert (kube.server, kube.ca_pem, kube.context) == ("https://apiserver:8443", b"CA",
                                                        "system:node:node1@kubernetes")
