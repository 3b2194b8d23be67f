"""Background processes and HTTP for the tutorial walk (tests/tutorial_walk.py): the first lines of a `proxy`,
`port-forward` or `--watch` it started, stopping it, and the reader's curls (once, or until the nodes' proxies
serve the Service)."""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from typing import Callable


def first_line_matching(proc: subprocess.Popen[str], pattern: str, timeout: float) -> str:
    """The first stdout line of a background process that matches `pattern` (or fail with what it said)."""
    got: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            got.append(line)
            if re.search(pattern, line):
                found.set()
                return
    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found.wait(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"no line matching {pattern!r} (exit {proc.returncode}): {got} {err}")
    return got[-1]


def lines_for(proc: subprocess.Popen[str], n: int, timeout: float) -> list[str]:
    """The first `n` stdout lines of a background process (a `--watch`), then stop it."""
    got: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            got.append(line)
            if len(got) >= n:
                break
        done.set()
    threading.Thread(target=read, daemon=True).start()
    done.wait(timeout)
    stop(proc)
    return got


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def http_until(url: str, ok: Callable[[int, str], bool], timeout: float) -> tuple[int, str]:
    """GET `url` until `ok(status, body)`, or `timeout` seconds: what a reader's curl sees once the nodes'
    proxies have the Service (a NodePort is opened when each node's proxy syncs, as kube-proxy's rules are).
    Returns the last answer; a connection the node refused or closed reads as status 0 and the error."""
    import http.client
    import urllib.error
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, body = http_get(url)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            status, body = 0, f"{type(e).__name__}: {e}"
        if ok(status, body) or time.monotonic() > deadline:
            return status, body
        time.sleep(1)
