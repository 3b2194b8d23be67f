"""dashboard.actions (rollout undo's patch as kubectl computes it, bad requests refused before any API call)
and dashboard.server's guard (Host and cross-site checks), on a real local server over loopback."""
from __future__ import annotations

import copy
import signal
from typing import Any

import aiohttp
import pytest

from dashboard import actions
from dashboard.kubeapi import ApiError, KubeApi
from kubelab.config import KubeConnection
from dashboard.server import allowed_host, serve

UID = "d-uid"


def _template(image: str, hash_: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web", "pod-template-hash": hash_}},
            "spec": {"containers": [{"name": "nginx", "image": image}]}}


def _rs(name: str, rev: int, image: str, owner: str = UID, cause: str = "") -> dict[str, Any]:
    ann = {"deployment.kubernetes.io/revision": str(rev), "deployment.kubernetes.io/desired-replicas": "3"}
    if cause:
        ann["kubernetes.io/change-cause"] = cause
    return {"metadata": {"name": name, "annotations": ann,
                         "ownerReferences": [{"uid": owner, "controller": True, "kind": "Deployment"}]},
            "spec": {"template": _template(image, name[-3:])}}


def _deployment(image: str, rev: int = 2, paused: bool = False) -> dict[str, Any]:
    t = _template(image, "")
    del t["metadata"]["labels"]["pod-template-hash"]
    return {"metadata": {"name": "web", "uid": UID, "annotations": {
        "deployment.kubernetes.io/revision": str(rev), "kubernetes.io/change-cause": "set image 1.26",
        "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"paused": paused, "template": t}}


def test_undo_patch_replaces_template_from_previous_revision_without_hash() -> None:
    rss = [_rs("web-aaa", 1, "nginx:1.25", cause="create"), _rs("web-bbb", 2, "nginx:1.26"),
           _rs("other-ccc", 7, "evil:1", owner="someone-else")]
    before = copy.deepcopy(rss)
    patch = actions.undo_patch(_deployment("nginx:1.26"), rss)
    assert patch == [
        {"op": "replace", "path": "/spec/template", "value": {
            "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}},
        # kubectl keeps the Deployment's own skipped annotations and takes the rest from the ReplicaSet
        {"op": "replace", "path": "/metadata/annotations", "value": {
            "deployment.kubernetes.io/revision": "2", "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "kubernetes.io/change-cause": "create"}}]
    assert rss == before                     # the cached ReplicaSets are not mutated


@pytest.mark.parametrize("deployment,rss,message", [
    pytest.param(_deployment("nginx:1.26", paused=True), [_rs("web-aaa", 1, "a"), _rs("web-bbb", 2, "b")],
                 "you cannot rollback a paused deployment; resume it first with "
                 "'kubelab rollout resume deployment/web' and try again", id="paused"),
    pytest.param(_deployment("nginx:1.26"), [_rs("web-bbb", 2, "nginx:1.26")],
                 'no rollout history found for deployment "web"', id="one-revision"),
    pytest.param(_deployment("nginx:1.26"), [_rs("web-aaa", 1, "x", owner="other"), _rs("web-bbb", 2, "y")],
                 'no rollout history found for deployment "web"', id="not-owned-does-not-count"),
])
def test_undo_refusals_in_kubectls_words(deployment: Any, rss: Any, message: str) -> None:
    with pytest.raises(ApiError) as e:
        actions.undo_patch(deployment, rss)
    assert e.value.line() == f"error: {message}"


def test_undo_skips_when_the_template_already_matches() -> None:
    rss = [_rs("web-aaa", 1, "nginx:1.26"), _rs("web-bbb", 2, "nginx:1.26")]
    assert actions.undo_patch(_deployment("nginx:1.26"), rss) == \
        "skipped rollback (current template already matches revision 1)"


@pytest.mark.parametrize("host,ok", [
    ("127.0.0.1:8080", True), ("localhost:8080", True), ("127.0.0.1:8081", False),
    ("evil.example:8080", False), ("", False)])
def test_allowed_host(host: str, ok: bool) -> None:
    assert allowed_host(host, 8080) is ok


async def test_server_refuses_cross_site_and_bad_actions_before_calling_the_api() -> None:
    # The API address is a closed port: an action that reached it would answer "connection refused".
    api = KubeApi(KubeConnection("https://127.0.0.1:9", "t", None, False, "lab"))
    runner, port = await serve(api, 0)
    base = f"http://127.0.0.1:{port}"
    good = {"X-Kubelab-Dashboard": "1"}
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(base + "/") as r:
                assert r.status == 200 and "text/html" in r.headers["Content-Type"]
                assert "default-src 'self'" in r.headers["Content-Security-Policy"]
            async with s.get(base + "/", headers={"Host": f"evil.example:{port}"}) as r:
                assert r.status == 403
            async with s.post(base + "/api/action", json={"action": "delete", "name": "x"}) as r:
                assert r.status == 403                      # no header: a form or fetch from another site
            async with s.post(base + "/api/action", json={"action": "delete", "name": "x"},
                              headers={**good, "Origin": "http://evil.example"}) as r:
                assert r.status == 403
            async with s.post(base + "/api/action", data="action=delete",
                              headers={**good, "Content-Type": "application/x-www-form-urlencoded"}) as r:
                assert r.status == 403
            for body, message in [
                ({"action": "explode", "name": "x"}, 'error: unknown action "explode"'),
                ({"action": "scale", "name": "web", "replicas": "three"}, 'error: replicas must be an integer, not "three"'),
                ({"action": "scale", "name": "web", "replicas": True}, "error: replicas must be an integer"),
                ({"action": "delete"}, "error: a resource name is required"),
                ([1, 2], "error: the request body must be a JSON object"),
            ]:
                async with s.post(base + "/api/action", json=body, headers=good) as r:
                    assert (r.status, await r.json()) == (200, {**(await r.json()), "ok": False, "code": 400, "message": message})
            async with s.post(base + "/api/action", json={"action": "delete", "name": "x"}, headers=good) as r:
                reply = await r.json()
                assert (r.status, reply["ok"], reply["code"]) == (200, False, 502) and "127.0.0.1:9" in reply["message"]
            async with s.get(base + "/api/object?kind=Nope&name=x") as r:
                reply = await r.json()
                assert (reply["ok"], reply["code"], reply["message"]) == (False, 400, 'error: unknown kind "Nope"')
            for kind, what in (("Node", "nodes"), ("Nope", '"Nope"')):
                async with s.get(base + f"/api/trace?kind={kind}&name=x") as r:
                    reply = await r.json()
                    assert (reply["ok"], reply["code"], reply["message"]) == (
                        False, 400, f"error: trace follows deployments, pods and services, not {what}")
            async with s.get(base + "/api/trace?kind=Deployment&namespace=default&name=web") as r:
                reply = await r.json()           # it asked the API (a closed port here), with the path it names
                assert (reply["ok"], reply["code"]) == (False, 502) and "127.0.0.1:9" in reply["message"]
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------- the command
@pytest.mark.parametrize("kubeconfig,args,line", [
    pytest.param(None, [], "error: no kubeconfig at {tmp}/none (start a cluster with `kubelab cluster up`)",
                 id="no-kubeconfig"),
    pytest.param({"current-context": ""}, [],
                 "error: no current context in the kubeconfig (start a cluster with `kubelab cluster up`)",
                 id="no-current-context"),
    pytest.param({"current-context": "a", "contexts": []}, ["--context", "b"],
                 'error: context "b" does not exist in the kubeconfig', id="unknown-context"),
    pytest.param({"current-context": "a"}, ["--port", "70000"], "error: invalid port 70000: must be between 0 "
                 "and 65535", id="bad-port"),
])
def test_dashboard_command_refusals(tmp_path: Any, kubeconfig: Any, args: list[str], line: str,
                                    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from dashboard.main import run_command
    path = tmp_path / ("config" if kubeconfig is not None else "none")
    if kubeconfig is not None:
        path.write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(path))
    code = run_command(["--url", *args])
    said = capsys.readouterr()
    assert (code, said.out, said.err.strip()) == (1, "", line.format(tmp=tmp_path))


async def _until_refused(url: str) -> None:
    import asyncio
    from urllib.parse import urlsplit
    port = urlsplit(url).port
    for _ in range(500):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except ConnectionError:     # refused, or reset: the listener closed with this one in its backlog
            return
        writer.close()
        await asyncio.sleep(0.01)
    raise AssertionError(f"{url} still accepts connections")


@pytest.mark.parametrize("second", [None, signal.SIGINT, signal.SIGTERM], ids=["one-signal", "then-SIGINT",
                                                                              "then-SIGTERM"])
async def test_a_signal_ends_the_command_with_a_page_connected(tmp_path: Any, second: int | None) -> None:
    """An open event stream does not hold the process: SIGTERM ends it gracefully (status 0) in about a second;
    a second signal during that shutdown exits at once (status 1), as kubelab.serving runs every component."""
    import asyncio
    import os
    import sys
    import time

    import yaml
    cfg = {"current-context": "lab", "contexts": [{"name": "lab", "context": {"cluster": "c", "user": "u"}}],
           "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
           "users": [{"name": "u", "user": {"token": "t"}}]}
    (tmp_path / "config").write_text(yaml.safe_dump(cfg))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubectl", "dashboard", "--url", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "KUBECONFIG": str(tmp_path / "config")})
    try:
        assert proc.stdout is not None and proc.stderr is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "api/stream") as r:
                assert (await r.content.readline()).startswith(b"event: status")
                proc.send_signal(signal.SIGTERM)
                if second is not None:      # once shutdown has begun (the port closed); the open stream holds it
                    await _until_refused(url)                                      # for a second
                    proc.send_signal(second)
                start = time.monotonic()
                assert await asyncio.wait_for(proc.wait(), 10) == (0 if second is None else 1)
                assert time.monotonic() - start < 5
        err = (await proc.stderr.read()).decode()
        assert "Traceback" not in err
        if second is not None:
            assert f"second {signal.Signals(second).name}: exiting now" in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_port_in_use_is_refused_and_leaves_nothing_running() -> None:
    """`kubelab dashboard --port P` with P taken: the bind error, and no relay task or API session left
    behind (they start before the bind; aiohttp said 'Unclosed client session' at exit)."""
    import asyncio
    import socket
    api = KubeApi(KubeConnection("https://127.0.0.1:9", "t", None, False, "lab"))
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        with pytest.raises(OSError):
            await serve(api, held.getsockname()[1])
    await asyncio.sleep(0)
    relays = [t for t in asyncio.all_tasks() if (t.get_name() or "").startswith("relay-") and not t.done()]
    assert relays == []
    assert api._session is None or api._session.closed
