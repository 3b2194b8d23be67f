"""The HA lab's load balancer as compose.ha.yaml and lab/compose.py set it up, without Docker: it points at
every apiserver's HTTPS on a network they share, its host port is its own, `up --ha` starts it, and the
apiservers' certificate names the address kubectl dials through it."""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
from cryptography import x509

from lab import compose, pki

from .test_lab_compose import _services


def _flag(command: list[str], flag: str) -> list[str]:
    return [command[i + 1] for i, arg in enumerate(command[:-1]) if arg == flag]


def test_the_load_balancer_points_at_every_apiservers_https_on_a_shared_network() -> None:
    services = _services("compose.yaml", "compose.ha.yaml")
    lb = services["apiserver-lb"]
    apiservers = {name: svc for name, svc in services.items() if svc.get("labels", {}).get(compose.LAB_LABEL)
                  == "apiserver"}
    assert set(apiservers) == {"apiserver", "apiserver2"}
    want = {f"{name}:{_flag(svc['command'], '--secure-port')[0]}" for name, svc in apiservers.items()}
    assert set(_flag(lb["command"], "--backend")) == want
    for name, svc in apiservers.items():
        assert set(lb["networks"]) & set(svc["networks"]), name
    assert lb["restart"] == "unless-stopped" and lb["labels"] == {compose.LAB_LABEL: "apiserver-lb"}
    assert lb["container_name"] == "kubelab-apiserver-lb"
    # The healthcheck connects to the health address, not to the relayed port (which would reach an apiserver).
    health = _flag(lb["command"], "--health-listen")[0].rsplit(":", 1)[1]
    assert f"/dev/tcp/127.0.0.1/{health}" in " ".join(lb["healthcheck"]["test"])


def _host_port(published: str) -> str:
    """The host port of a compose `ports` entry (its default when it is a ${VAR:-default})."""
    return re.sub(r"\$\{\w+:-(\d+)\}", r"\1", published).split(":")[1]


def test_the_load_balancers_host_port_is_its_own_and_kubectl_is_pointed_there(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBELAB_LB_PORT", raising=False)
    services = _services("compose.yaml", "compose.ha.yaml")
    lb = services.pop("apiserver-lb")
    assert lb["ports"] == ["127.0.0.1:${KUBELAB_LB_PORT:-8442}:8443"]
    others = {_host_port(p) for svc in services.values() for p in svc.get("ports") or []}
    assert {"6443", "8443", "6444", "8444"} <= others and "8442" not in others
    assert compose.lb_port() == 8442
    assert "apiserver-lb" in compose.HA_SERVICES            # `up --ha` starts it


def test_the_apiservers_certificate_names_the_address_kubectl_dials(tmp_path: Path) -> None:
    crt, _, _ = pki.apiserver_certificates(tmp_path, compose.SERVICE_CLUSTER_IP)
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
