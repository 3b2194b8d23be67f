"""lab.compose.wait_http: `cluster up` returns only once kubectl's way in answers /readyz over TLS (in the HA lab a
load balancer that has not yet found an apiserver would refuse kubectl's first call). A real HTTPS server on
loopback with a certificate from the lab's own CA code."""
from __future__ import annotations

import http.server
import ssl
import threading
from pathlib import Path
from typing import Iterator

import pytest

from lab import pki
from lab.compose import LabError, wait_http


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, bytes, list[str]]]:
    """An HTTPS server whose /readyz says 503 twice, then 200; it records each request's Authorization."""
    ca = pki.make_ca()
    leaf = pki.issue(ca, "apiserver", server_names=["127.0.0.1"])
    (tmp_path / "tls.crt").write_bytes(leaf.cert_pem)
    (tmp_path / "tls.key").write_bytes(leaf.key_pem)
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(200 if len(seen) > 2 else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}", ca.cert_pem, seen
    finally:
        httpd.shutdown()


def test_it_waits_through_not_ready_answers_with_the_token(server: tuple[str, bytes, list[str]]) -> None:
    url, ca_pem, seen = server
    wait_http(f"{url}/readyz", "the Kubernetes HTTP API", "kubelab-apiserver-lb", timeout=10, ca_pem=ca_pem,
              token="s3cret")
    assert seen == ["Bearer s3cret"] * 3


def test_a_server_never_ready_is_named_with_its_logs(server: tuple[str, bytes, list[str]]) -> None:
    url, _, seen = server
    with pytest.raises(LabError) as e:       # not the lab's CA: TLS verification fails every time
        wait_http(f"{url}/readyz", "the Kubernetes HTTP API", "kubelab-apiserver-lb", timeout=1,
                  ca_pem=pki.make_ca().cert_pem)
    assert str(e.value).startswith(f"the Kubernetes HTTP API did not answer on {url}/readyz within 1s: ")
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) and "`docker logs kubelab-apiserver-lb`" in str(e.value)
    assert seen == []
