"""proxy.lb as a process (`python -m proxy.lb`, as compose.ha.yaml runs it) on loopback, with
real sockets: two backends, one of them a closed port. No Docker, no etcd.

What a user of the HA lab relies on: every connection reaches the backend that answers (the refusing one is
skipped, and said down once in the log, not per connection), bytes pass both ways unchanged (half-closes
too), TLS passes through untouched (the client verifies the backend's own certificate), a client with no
backend at all is closed at once, and the health address says each backend's state."""
from __future__ import annotations

import os
import re
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from lab import pki

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


_HELD: list[socket.socket] = []


def closed_port() -> int:
    """A loopback port bound but never listened on: a connect there is refused, and no other socket of the
    test (the load balancer's own ports) can be given it meanwhile."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _HELD.append(s)
    return int(s.getsockname()[1])


class _Echo(socketserver.StreamRequestHandler):
    """Says its name, then echoes until the client's EOF, then closes (a half-close test needs that order)."""

    def handle(self) -> None:
        self.wfile.write(f"{self.server.name}\n".encode())      # type: ignore[attr-defined]
        while data := self.connection.recv(65536):
            self.connection.sendall(data)


class _TlsEcho(_Echo):
    def setup(self) -> None:
        self.request = self.server.tls.wrap_socket(self.request, server_side=True)   # type: ignore[attr-defined]
        super().setup()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(handler: type[socketserver.BaseRequestHandler], name: str, **attrs: Any) -> _Server:
    srv = _Server(("127.0.0.1", 0), handler)
    srv.name = name                                         # type: ignore[attr-defined]
    for k, v in attrs.items():
        setattr(srv, k, v)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class Lb:
    """The load balancer process and its log (stderr, read as it comes)."""

    def __init__(self, backends: list[str], down_seconds: float = 3.0) -> None:
        # Port 0: the process takes free ports and its first log line says which.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "proxy.lb", "--listen", "127.0.0.1:0",
             "--health-listen", "127.0.0.1:0", "--down-seconds", str(down_seconds),
             *(a for b in backends for a in ("--backend", b))],
            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 30
        while not any("event=listening" in line for line in self.lines):
            assert self.proc.poll() is None, f"the load balancer exited: {self.lines}"
            assert time.monotonic() < deadline, f"the load balancer did not listen: {self.lines}"
            time.sleep(0.05)
        listening = self.events("listening")[0]
        self.port = int(re.search(r" address=127.0.0.1:(\d+)", listening).group(1))     # type: ignore[union-attr]
        self.health = int(re.search(r" health=127.0.0.1:(\d+)", listening).group(1))    # type: ignore[union-attr]

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def events(self, event: str, at_least: int = 1) -> list[str]:
        """The log lines of `event`, once there are `at_least` (the log is read by a thread: give it time)."""
        deadline = time.monotonic() + 10
        while True:
            found = [line for line in self.lines if f"event={event} " in line]
            if len(found) >= at_least or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout=15)


@pytest.fixture
def live() -> Iterator[_Server]:
    srv = serve(_Echo, "live")
    yield srv
    srv.shutdown()
    srv.server_close()


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    return s


def recv_line(s: socket.socket) -> bytes:
    out = b""
    while not out.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        out += chunk
    return out


def recv_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def test_every_connection_reaches_the_live_backend_and_bytes_pass_both_ways(live: _Server) -> None:
    dead = closed_port()
    lb = Lb([f"127.0.0.1:{dead}", f"127.0.0.1:{live.server_address[1]}"])
    try:
        payload = os.urandom(1 << 20)                       # 1 MiB: more than one read and one write buffer
        for i in range(6):                                  # round robin puts the dead one first every other time
            with connect(lb.port) as s:
                assert recv_line(s) == b"live\n"
                sender = threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)))
                sender.start()
                echoed = recv_all(s)                        # ends with the backend's close after our EOF
                sender.join()
                assert echoed == payload, f"connection {i}: {len(echoed)} of {len(payload)} bytes back"
        downs = lb.events("backend-down")
        print("\n" + "\n".join(lb.lines))
        assert len(downs) == 1, lb.lines                    # said once, not per connection
        assert f"event=backend-down backend=127.0.0.1:{dead} " in downs[0] and 'error="Connection refused"' in downs[0]
        with connect(lb.health) as s:
            states = recv_all(s).decode().splitlines()
        assert states[1] == f"127.0.0.1:{live.server_address[1]} up"
        assert states[0].startswith(f"127.0.0.1:{dead} down"), states
    finally:
        assert lb.stop() == 0                               # SIGTERM: a clean stop


def test_a_backend_that_comes_back_is_said_up_and_used_again(live: _Server) -> None:
    # The first backend: a port bound now but not listened on (refused), listened on later (an apiserver
    # restarting).
    back = _Server(("127.0.0.1", 0), _Echo, bind_and_activate=False)
    back.name = "back"                                      # type: ignore[attr-defined]
    back.server_bind()
    late = back.server_address[1]
    serving: threading.Thread | None = None
    lb = Lb([f"127.0.0.1:{late}", f"127.0.0.1:{live.server_address[1]}"], down_seconds=0.5)
    try:
        with connect(lb.port) as s:
            assert recv_line(s) == b"live\n"
        assert len(lb.events("backend-down")) == 1, lb.lines
        back.server_activate()
        serving = threading.Thread(target=back.serve_forever, daemon=True)
        serving.start()
        time.sleep(0.6)                                     # its down mark expires (no assertion on time)
        seen = set()
        for _ in range(4):
            with connect(lb.port) as s:
                seen.add(recv_line(s))
        print("\n" + "\n".join(lb.lines))
        assert seen == {b"live\n", b"back\n"}
        ups = lb.events("backend-up")
        assert len(ups) == 1 and f"backend=127.0.0.1:{late}" in ups[0], lb.lines
    finally:
        lb.stop()
        if serving is not None:
            back.shutdown()
        back.server_close()


def test_tls_passes_through_untouched(tmp_path: Path) -> None:
    ca = pki.make_ca("lb-test-ca")
    crt, key = pki.save(pki.issue(ca, "kube-apiserver", server_names=["127.0.0.1", "localhost"]), tmp_path, "srv")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(crt, key)
    backend = serve(_TlsEcho, "tls", tls=tls)
    lb = Lb([f"127.0.0.1:{closed_port()}", f"127.0.0.1:{backend.server_address[1]}"])
    try:
        client = ssl.create_default_context(cadata=ca.cert_pem.decode())
        for _ in range(2):
            with client.wrap_socket(connect(lb.port), server_hostname="127.0.0.1") as s:
                cert = s.getpeercert()                      # the backend's own, verified against the lab CA
                assert dict(x[0] for x in cert["subject"])["commonName"] == "kube-apiserver"
                assert recv_line(s) == b"tls\n"
                s.sendall(b"through the relay\n")
                assert recv_line(s) == b"through the relay\n"
    finally:
        lb.stop()
        backend.shutdown()
        backend.server_close()


def test_with_no_backend_answering_the_client_is_closed_at_once() -> None:
    lb = Lb([f"127.0.0.1:{closed_port()}", f"127.0.0.1:{closed_port()}"])
    try:
        for _ in range(2):
            with connect(lb.port) as s:
                try:
                    got = s.recv(1)
                except ConnectionResetError:
                    got = b""
                assert got == b""                           # closed (reset), not left hanging to the timeout
        assert len(lb.events("backend-down", 2)) == 2
        assert len(lb.events("no-backend", 2)) == 2, lb.lines
    finally:
        lb.stop()
