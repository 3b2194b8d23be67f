"""The one reader of the kubeconfig's HTTPS credentials (kubelab.config.kube_connection, ssl_context), which the
dashboard and `kubelab proxy` connect with: read as kubectl (client-go's clientcmd) reads a kubeconfig."""
from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubelab import config
from lab import pki


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write(path: Path, cluster: dict[str, Any], user: dict[str, Any], namespace: str = "") -> Path:
    ctx: dict[str, Any] = {"cluster": "c", "user": "u"}
    if namespace:
        ctx["namespace"] = namespace
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443/", **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "lab", "context": ctx}]}))
    return path


def test_token_ca_data_and_namespace(tmp_path: Path) -> None:
    p = write(tmp_path / "config", {"certificate-authority-data": b64(b"CA")}, {"token": "t0k"}, "team")
    assert config.kube_connection(p) == config.KubeConnection("https://127.0.0.1:6443", "t0k", b"CA", False, "lab",
                                                              "team")


def test_token_file_is_read_relative_to_the_kubeconfig_and_trimmed(tmp_path: Path) -> None:
    (tmp_path / "kube" / "secrets").mkdir(parents=True)
    (tmp_path / "kube" / "secrets" / "token").write_text("from-file\n")
    p = write(tmp_path / "kube" / "config", {}, {"tokenFile": "secrets/token"})
    assert config.kube_connection(p).token == "from-file"


def test_token_wins_over_token_file(tmp_path: Path) -> None:
    # clientcmd: the token is used, the file only read when there is none (so a missing file does not matter).
    p = write(tmp_path / "config", {}, {"token": "inline", "tokenFile": "missing"})
    assert config.kube_connection(p).token == "inline"


def test_a_missing_token_file_is_named(tmp_path: Path) -> None:
    p = write(tmp_path / "config", {}, {"tokenFile": "gone"})
    with pytest.raises(config.ConfigError, match=f"unable to read tokenFile {tmp_path / 'gone'}: No such file"):
        config.kube_connection(p)


def test_ca_file_relative_to_the_kubeconfig_and_data_wins(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes(b"FILE CA")
    assert config.kube_connection(write(tmp_path / "config", {"certificate-authority": "ca.crt"}, {})).ca_pem \
        == b"FILE CA"
    both = {"certificate-authority": "ca.crt", "certificate-authority-data": b64(b"DATA CA")}
    assert config.kube_connection(write(tmp_path / "config", both, {})).ca_pem == b"DATA CA"


def test_insecure_skip_tls_verify_checks_nothing(tmp_path: Path) -> None:
    conn = config.kube_connection(write(tmp_path / "config", {"insecure-skip-tls-verify": True}, {"token": "t"}))
    assert conn.insecure and conn.ca_pem is None
    ctx = config.ssl_context(conn)
    assert isinstance(ctx, ssl.SSLContext)
    assert (ctx.verify_mode, ctx.check_hostname) == (ssl.CERT_NONE, False)


def test_insecure_with_a_ca_is_refused_as_kubectl_refuses_it(tmp_path: Path) -> None:
    p = write(tmp_path / "config", {"insecure-skip-tls-verify": True, "certificate-authority-data": b64(b"CA")}, {})
    with pytest.raises(config.ConfigError, match="specifying a root certificates file with the insecure flag"):
        config.kube_connection(p)


def test_a_verifying_context_for_https_and_none_for_http(tmp_path: Path) -> None:
    ca = pki.make_ca()
    conn = config.kube_connection(write(tmp_path / "config", {"certificate-authority-data": b64(ca.cert_pem)}, {}))
    ctx = config.ssl_context(conn)
    assert isinstance(ctx, ssl.SSLContext)
    assert (ctx.verify_mode, ctx.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert config.ssl_context(config.KubeConnection("http://127.0.0.1:8080")) is False


def test_a_ca_that_does_not_load_is_a_config_error(tmp_path: Path) -> None:
    conn = config.kube_connection(write(tmp_path / "config", {"certificate-authority-data": b64(b"not PEM")}, {}))
    with pytest.raises(config.ConfigError, match="the certificate authority does not load"):
        config.ssl_context(conn)


def test_a_client_certificate_needs_its_key(tmp_path: Path) -> None:
    p = write(tmp_path / "config", {}, {"client-certificate-data": b64(b"CERT")})
    with pytest.raises(config.ConfigError, match="client-certificate and client-key go together"):
        config.kube_connection(p)


@pytest.mark.parametrize("kind", ["data", "files"])
def test_a_client_certificate_is_presented_to_the_server(tmp_path: Path, kind: str) -> None:
    """A server that asks for a client certificate signed by its CA gets the kubeconfig's (data or files)."""
    ca = pki.make_ca()
    serving = pki.issue(ca, "apiserver", server_names=["127.0.0.1"])
    client = pki.issue(ca, "alice", client=True, organizations=["dev"])
    if kind == "data":
        user = {"client-certificate-data": b64(client.cert_pem), "client-key-data": b64(client.key_pem)}
    else:
        (tmp_path / "alice.crt").write_bytes(client.cert_pem)
        (tmp_path / "alice.key").write_bytes(client.key_pem)
        user = {"client-certificate": "alice.crt", "client-key": "alice.key"}
    conn = config.kube_connection(write(tmp_path / "config", {"certificate-authority-data": b64(ca.cert_pem)}, user))
    assert conn.cert_pem == client.cert_pem and conn.key_pem == client.key_pem
    pki.save(serving, tmp_path, "serving")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca.cert_pem.decode())
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_cert_chain(tmp_path / "serving.crt", tmp_path / "serving.key")

    async def handshake() -> str:
        peers: list[Any] = []

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peers.append(writer.get_extra_info("peercert"))
            writer.close()
        server = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        tls = config.ssl_context(conn)
        assert isinstance(tls, ssl.SSLContext)
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
        await asyncio.sleep(0.05)
        writer.close()
        server.close()
        await server.wait_closed()
        subject = dict(x[0] for x in peers[0]["subject"])
        return str(subject["commonName"])
    assert asyncio.run(handshake()) == "alice"


def test_the_refusals_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match=f"no kubeconfig at {tmp_path / 'none'}"):
        config.kube_connection(tmp_path / "none")
    p = write(tmp_path / "config", {}, {})
    with pytest.raises(config.ConfigError, match='context "other" does not exist in the kubeconfig'):
        config.kube_connection(p, "other")
    doc = yaml.safe_load(p.read_text())
    doc["clusters"][0]["cluster"]["server"] = "127.0.0.1:6443"
    p.write_text(yaml.safe_dump({**doc, "users": None}))
    with pytest.raises(config.ConfigError, match='context "lab": the cluster has no https:// server address'):
        config.kube_connection(p)
