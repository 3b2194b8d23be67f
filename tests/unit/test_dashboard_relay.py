"""dashboard.relay and dashboard.kubeapi: the pure parts (back-off, watch lines, SSE frames, the Hub's
bookkeeping, kubeconfig credentials), and the list-then-watch loop against a real aiohttp server on loopback
that goes away and comes back."""
from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from aiohttp import web

from dashboard import relay
from dashboard.kubeapi import ApiError, KubeApi, status_of
from kubelab.config import ConfigError, KubeConnection, kube_connection_from
from dashboard.relay import Hub, WatchExpired, back_off, parse_event, slim, sse_frame


@pytest.mark.parametrize("attempt,jitter,want", [
    pytest.param(0, 0.0, 0.5, id="first"),
    pytest.param(1, 0.0, 1.0, id="doubles"),
    pytest.param(4, 0.0, 8.0, id="fourth"),
    pytest.param(5, 0.0, 10.0, id="capped"),
    pytest.param(500, 0.0, 10.0, id="huge-attempt-capped"),
    pytest.param(0, 1.0, 0.6, id="jitter-at-most-20-percent"),
])
def test_back_off(attempt: int, jitter: float, want: float) -> None:
    assert back_off(attempt, jitter=lambda: jitter) == want


def test_parse_event_kinds() -> None:
    assert parse_event(b'{"type":"ADDED","object":{"metadata":{"name":"a"}}}') == ("ADDED", {"metadata": {"name": "a"}})
    with pytest.raises(WatchExpired):
        parse_event(b'{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old resource version"}}')
    with pytest.raises(ApiError) as e:
        parse_event(b'{"type":"ERROR","object":{"kind":"Status","code":500,"reason":"InternalError","message":"x"}}')
    assert e.value.line() == "Error from server (InternalError): x"
    for bad in (b'{"type":"NOPE","object":{}}', b'{"type":"ADDED"}', b'[1]'):
        with pytest.raises(ValueError):
            parse_event(bad)
    with pytest.raises(ValueError):
        parse_event(b"not json")


def test_sse_frame_is_one_data_line_even_with_newlines_and_html() -> None:
    data = {"message": "line1\nline2\r\n<script>alert(1)</script>"}
    frame = sse_frame("change", data)
    lines = frame.decode().split("\n")
    assert lines[0] == "event: change" and lines[1].startswith("data: ") and lines[2:] == ["", ""]
    assert json.loads(lines[1][len("data: "):]) == data


def test_slim_drops_managed_fields_and_last_applied_only() -> None:
    obj = {"metadata": {"name": "a", "managedFields": [{"manager": "kubectl"}],
                        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "1"}}}
    out = slim(obj)
    assert out["metadata"] == {"name": "a", "annotations": {"keep": "1"}}
    assert "managedFields" in obj["metadata"]          # the cached original is not mutated
    plain = {"metadata": {"name": "b"}}
    assert slim(plain) is plain


def _frames(q: "asyncio.Queue[bytes | None]") -> list[tuple[str, Any]]:
    out = []
    while not q.empty():
        f = q.get_nowait()
        if f is None:
            out.append(("END", None))
            continue
        ev, data = f.decode().split("\n")[:2]
        out.append((ev[len("event: "):], json.loads(data[len("data: "):])))
    return out


def _pod(name: str, ns: str = "default", rv: str = "1") -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": ns, "resourceVersion": rv}}


async def test_hub_snapshot_then_changes_and_a_late_page_starts_from_state() -> None:
    hub = Hub("https://api")
    early = hub.subscribe()
    assert [(t, d["kind"]) for t, d in _frames(early)] == [("status", k) for k in relay.KINDS]   # nothing listed yet
    hub.replace("Pod", [_pod("a"), _pod("b")])
    hub.apply("Pod", "MODIFIED", _pod("a", rv="2"))
    hub.apply("Pod", "DELETED", _pod("b"))
    hub.apply("Node", "ADDED", {"metadata": {"name": "n1"}})
    got = _frames(early)
    assert got[0] == ("snapshot", {"kind": "Pod", "items": [_pod("a"), _pod("b")]})
    assert [(t, d["type"], d["object"]["metadata"]["name"]) for t, d in got[1:]] == [
        ("change", "MODIFIED", "a"), ("change", "DELETED", "b"), ("change", "ADDED", "n1")]
    late = _frames(hub.subscribe())
    snapshot = [d for t, d in late if t == "snapshot" and d["kind"] == "Pod"]
    assert snapshot == [{"kind": "Pod", "items": [_pod("a", rv="2")]}]
    # Node was never listed (synced), so a late page gets no Node snapshot, only its status.
    assert not [d for t, d in late if t == "snapshot" and d["kind"] == "Node"]


async def test_hub_status_is_sent_once_per_change() -> None:
    hub = Hub("https://api")
    q = hub.subscribe()
    _frames(q)
    hub.set_status("Pod", False, "connection refused", 0.5)
    hub.set_status("Pod", False, "connection refused", 0.5)
    hub.set_status("Pod", True, "")
    assert [(d["ok"], d["message"]) for _, d in _frames(q)] == [(False, "connection refused"), (True, "")]


async def test_hub_keeps_the_newest_events_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay, "MAX_EVENTS", 3)
    hub = Hub()
    evs = [{"metadata": {"name": f"e{i}", "namespace": "d"}, "lastTimestamp": f"2026-01-01T00:00:0{i}Z"}
           for i in range(5)]
    hub.replace("Event", list(reversed(evs)))
    assert list(hub.kinds["Event"].objects) == ["d/e2", "d/e3", "d/e4"]
    hub.apply("Event", "ADDED", {"metadata": {"name": "e9", "namespace": "d"}})
    assert list(hub.kinds["Event"].objects) == ["d/e3", "d/e4", "d/e9"]


async def test_a_page_that_cannot_keep_up_is_dropped_not_buffered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay, "QUEUE_LIMIT", len(relay.KINDS) + 2)
    hub = Hub()
    q = hub.subscribe()
    for i in range(10):
        hub.apply("Pod", "ADDED", _pod(f"p{i}"))
    assert q not in hub.subscribers
    assert _frames(q) == [("END", None)]       # its stream ends; the page reconnects for a snapshot


def test_credentials_from_kubeconfig(tmp_path: Any) -> None:
    (tmp_path / "tok").write_text("from-file\n")
    cfg = {"current-context": "lab", "contexts": [{"name": "lab", "context": {"cluster": "c", "user": "u"}},
                                                  {"name": "other", "context": {"cluster": "c", "user": "v"}}],
           "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443/",
                                                  "certificate-authority-data": base64.b64encode(b"PEM").decode()}}],
           "users": [{"name": "u", "user": {"token": "secret"}},
                     {"name": "v", "user": {"tokenFile": str(tmp_path / "tok")}}]}
    assert kube_connection_from(cfg) == KubeConnection("https://127.0.0.1:6443", "secret", b"PEM", False, "lab")
    assert kube_connection_from(cfg, "other").token == "from-file"
    with pytest.raises(ConfigError, match='context "nope" does not exist'):
        kube_connection_from(cfg, "nope")
    with pytest.raises(ConfigError, match="no current context"):
        kube_connection_from({**cfg, "current-context": ""})


def test_status_of_keeps_the_apis_status_or_makes_one() -> None:
    st = {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "pods is forbidden"}
    assert status_of(403, json.dumps(st).encode()) == st
    made = status_of(502, b"<html>bad gateway</html>")
    assert (made["code"], made["reason"], made["message"]) == (502, "Unknown", "<html>bad gateway</html>")
    assert status_of(403, b"")["reason"] == "Forbidden"


# ---------------------------------------------------------------- the loop against a real server
class FakeApi:
    """A real aiohttp server on loopback serving LIST and WATCH of pods; it can be stopped and started again
    on the same port (the API going away and coming back)."""

    def __init__(self) -> None:
        self.pods: list[dict[str, Any]] = [_pod("a")]
        self.watch_events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.port = 0
        self.runner: web.AppRunner | None = None
        self.watches = 0
        self.cut_at_once = False        # every watch ends at once, empty (a proxy cutting streams)

    async def handler(self, request: web.Request) -> web.StreamResponse:
        assert request.headers["Authorization"] == "Bearer t0k"
        if request.query.get("watch") != "true":
            return web.json_response({"kind": "PodList", "metadata": {"resourceVersion": "10"}, "items": self.pods})
        self.watches += 1
        resp = web.StreamResponse()
        await resp.prepare(request)
        while not self.cut_at_once:
            ev = await self.watch_events.get()
            await resp.write(json.dumps(ev).encode() + b"\n")
        return resp

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/pods", self.handler)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def _until(check: Any, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_watch_kind_relays_says_when_the_api_is_gone_and_relists_when_it_is_back() -> None:
    fake = FakeApi()
    await fake.start()
    api = KubeApi(KubeConnection(f"http://127.0.0.1:{fake.port}", "t0k", None, False, "lab"))
    hub = Hub(api.creds.server)
    q = hub.subscribe()
    _frames(q)
    slept: list[float] = []

    async def quick_sleep(s: float) -> None:      # the back-off's length is asserted, not waited out
        slept.append(s)
        await asyncio.sleep(0.05)

    task = asyncio.create_task(relay.watch_kind(api, hub, "Pod", sleep=quick_sleep))
    try:
        await _until(lambda: hub.kinds["Pod"].ok)
        assert list(hub.kinds["Pod"].objects) == ["default/a"]
        fake.watch_events.put_nowait({"type": "ADDED", "object": _pod("b", rv="11")})
        await _until(lambda: "default/b" in hub.kinds["Pod"].objects)

        await fake.stop()                          # the API goes away
        await _until(lambda: not hub.kinds["Pod"].ok)
        await _until(lambda: hub.kinds["Pod"].message ==
                     f'Get "http://127.0.0.1:{fake.port}": dial tcp 127.0.0.1:{fake.port}: connect: connection refused')
        assert hub.kinds["Pod"].retry_in > 0
        await _until(lambda: len(slept) >= 3)
        assert slept[1] > slept[0]                 # backing off, not hammering

        fake.pods = [_pod("c")]                    # while it was away, a and b went and c came
        await fake.start()                         # same port
        await _until(lambda: hub.kinds["Pod"].ok)
        assert list(hub.kinds["Pod"].objects) == ["default/c"]
        oks = [d["ok"] for t, d in _frames(q) if t == "status" and d["kind"] == "Pod"]
        assert oks[0] is True and False in oks and oks[-1] is True      # up, gone (said once per change), back
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.close()
        await fake.stop()


async def test_watches_that_end_at_once_are_backed_off_not_spun() -> None:
    fake = FakeApi()
    fake.cut_at_once = True
    await fake.start()
    api = KubeApi(KubeConnection(f"http://127.0.0.1:{fake.port}", "t0k", None, False, "lab"))
    hub = Hub()
    slept: list[float] = []

    async def quick_sleep(s: float) -> None:
        slept.append(s)
        await asyncio.sleep(0.05)

    task = asyncio.create_task(relay.watch_kind(api, hub, "Pod", sleep=quick_sleep))
    try:
        await _until(lambda: len(slept) >= 4)
        assert fake.watches <= len(slept) + 1        # one watch per pause, not thousands
        assert slept[3] > slept[0] and hub.kinds["Pod"].ok
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.close()
        await fake.stop()
