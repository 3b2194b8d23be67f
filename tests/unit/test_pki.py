"""lab.pki: the certificates a real TLS handshake accepts or refuses (Python's ssl on loopback)."""
from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from lab import pki


def _serve_once(server_ctx: ssl.SSLContext) -> tuple[int, threading.Thread, list[str]]:
    """A TLS server on a free loopback port that accepts one connection and records the peer's CN or error."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    seen: list[str] = []

    def run() -> None:
        conn, _ = sock.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                peer = tls.getpeercert()
                seen.append(dict(x[0] for x in peer["subject"])["commonName"] if peer else "")
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as e:
            seen.append(f"error: {e}")
        finally:
            sock.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return sock.getsockname()[1], t, seen


def _server_ctx(tmp: Path, ca: pki.KeyPair, require_client: bool) -> ssl.SSLContext:
    crt, key = pki.save(pki.issue(ca, "apiserver", server_names=["127.0.0.1", "localhost"]), tmp, "server")
    ca_crt, _ = pki.save(ca, tmp, "ca")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(ca_crt)
    return ctx


def test_server_certificate_verifies_for_its_ip_and_name(tmp_path: Path) -> None:
    ca = pki.make_ca()
    port, t, seen = _serve_once(_server_ctx(tmp_path, ca, require_client=False))
    client = ssl.create_default_context(cadata=ca.cert_pem.decode())
    with socket.create_connection(("127.0.0.1", port)) as raw, client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.recv(2) == b"ok"
    t.join(5)


def test_a_name_not_in_the_certificate_is_refused(tmp_path: Path) -> None:
    ca = pki.make_ca()
    port, t, _ = _serve_once(_server_ctx(tmp_path, ca, require_client=False))
    client = ssl.create_default_context(cadata=ca.cert_pem.decode())
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch|doesn't match"):
            client.wrap_socket(raw, server_hostname="etcd.example")
    t.join(5)


def test_client_certificate_required_and_checked_against_the_ca(tmp_path: Path) -> None:
    ca = pki.make_ca()
    other_ca = pki.make_ca("stranger")
    # a client certificate from the lab's CA is accepted, and its CN is who it is
    port, t, seen = _serve_once(_server_ctx(tmp_path / "a", ca, require_client=True))
    crt, key = pki.save(pki.issue(ca, "kube-apiserver-etcd-client", client=True), tmp_path / "c", "client")
    client = ssl.create_default_context(cadata=ca.cert_pem.decode())
    client.load_cert_chain(crt, key)
    with socket.create_connection(("127.0.0.1", port)) as raw, client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.recv(2) == b"ok"
    t.join(5)
    assert seen == ["kube-apiserver-etcd-client"]
    # one from another CA is refused by the server
    port, t, seen = _serve_once(_server_ctx(tmp_path / "b", ca, require_client=True))
    crt, key = pki.save(pki.issue(other_ca, "intruder", client=True), tmp_path / "d", "client")
    client = ssl.create_default_context(cadata=ca.cert_pem.decode())
    client.load_cert_chain(crt, key)
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.recv(2)
    t.join(5)
    assert seen and seen[0].startswith("error:")


def test_client_certificate_carries_user_and_groups() -> None:
    ca = pki.make_ca()
    leaf = pki.issue(ca, "system:node:node1", client=True, organizations=["system:nodes"])
    subject = x509.load_pem_x509_certificate(leaf.cert_pem).subject
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["system:node:node1"]
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:nodes"]


def test_keys_are_private_files_in_a_private_directory(tmp_path: Path) -> None:
    d = tmp_path / "pki"
    crt, key = pki.save(pki.make_ca(), d, "ca")
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(crt).st_mode) == 0o644
    again = pki.load_or_make_ca(d)
    assert again.cert_pem == crt.read_bytes()      # the same CA across restarts


def test_a_certificate_needs_a_use() -> None:
    with pytest.raises(ValueError):
        pki.issue(pki.make_ca(), "nothing")


def test_the_apiserver_serving_certificate_names_every_address_clients_use(tmp_path: Path) -> None:
    crt, key, ca_pem = pki.apiserver_certificates(tmp_path / "pki", "10.96.0.1")
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.IPAddress)) == {ipaddress.ip_address("127.0.0.1"),
                                                             ipaddress.ip_address("10.96.0.1")}
    assert {"localhost", "apiserver", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"} <= set(
        san.get_values_for_type(x509.DNSName))
    assert cert.issuer == x509.load_pem_x509_certificate(ca_pem).subject
    assert key.stat().st_mode & 0o077 == 0
