"""`kubelab proxy`'s path handling (kubectl/apiproxy.py): the tutorials' pre-1.10 pod proxy URL goes to the
current form; everything else passes as it came."""
from __future__ import annotations

from pathlib import Path

import pytest

from kubectl.apiproxy import legacy_proxy_path


@pytest.mark.parametrize("raw, want", [
    ("/api/v1/proxy/namespaces/default/pods/web-1/", "/api/v1/namespaces/default/pods/web-1/proxy/"),
    ("/api/v1/proxy/namespaces/default/pods/web-1", "/api/v1/namespaces/default/pods/web-1/proxy/"),
    ("/api/v1/proxy/namespaces/ns/services/web:http/a/b?x=1", "/api/v1/namespaces/ns/services/web:http/proxy/a/b?x=1"),
    ("/api/v1/namespaces/default/pods/web-1/proxy/", "/api/v1/namespaces/default/pods/web-1/proxy/"),
    ("/api/v1/proxy/namespaces/default/deployments/x/", "/api/v1/proxy/namespaces/default/deployments/x/"),
    ("/version", "/version"),
])
def test_legacy_pod_proxy_urls_are_sent_to_the_current_form(raw: str, want: str) -> None:
    assert legacy_proxy_path(raw) == want


# ---------------------------------------------------------------- the process: kubelab.serving's life cycle
@pytest.mark.parametrize("second", [None, "SIGINT"], ids=["one-signal", "then-SIGINT"])
def test_sigterm_stops_the_proxy_gracefully_and_a_second_signal_at_once(tmp_path: Path, second: str | None) -> None:
    """`kubelab proxy` as the components run: SIGTERM (not only Ctrl-C) stops it cleanly, status 0; while a
    request in flight holds the shutdown (its API never answers), a second signal exits at once, status 1."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import threading
    import time

    import yaml
    silent = socket.socket()            # the "API": accepts, never answers (not even the TLS handshake)
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    api_port = silent.getsockname()[1]
    cfg = {"current-context": "lab", "contexts": [{"name": "lab", "context": {"cluster": "c", "user": "u"}}],
           "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{api_port}"}}],
           "users": [{"name": "u", "user": {"token": "t"}}]}
    (tmp_path / "config").write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "kubectl", "proxy", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "KUBECONFIG": str(tmp_path / "config")})
    held: list[socket.socket] = []
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line.startswith("Starting to serve on 127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        port = int(line.rsplit(":", 1)[1])
        if second is not None:          # a request the API never answers: the shutdown waits for it
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            c.sendall(b"GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n")
            held.append(c)
            threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True).start()
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        if second is not None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:      # shutdown has begun once the port is closed
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except OSError:
                    break
                time.sleep(0.02)
            proc.send_signal(getattr(signal, second))
        start = time.monotonic()
        assert proc.wait(10) == (0 if second is None else 1)
        assert time.monotonic() - start < (3 if second is None else 1)
        err = proc.stderr.read()
        assert "Traceback" not in err
        if second is not None:
            assert f"second {second}: exiting now" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for s in held:
            s.close()
        silent.close()
