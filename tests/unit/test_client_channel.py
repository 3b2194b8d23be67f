"""kubelab.client's gRPC channels: a component cut off from the apiserver reconnects promptly once it is back.

gRPC's own reconnect back-off grows to 120 s; a kubelet cut off the network for 90 s then heartbeated 32 s
after the apiserver was reachable again (bench/soak.py's network fault, measured through a TCP relay), while
the lab marks a silent node NotReady after 20 s (--node-monitor-grace-period)."""
from __future__ import annotations

from kubelab.client import Client, channel_options

LAB_NODE_MONITOR_GRACE_MS = 20_000


def test_the_reconnect_back_off_is_capped_below_the_node_monitor_grace_period() -> None:
    options = dict(channel_options())
    assert 0 < options["grpc.max_reconnect_backoff_ms"] <= LAB_NODE_MONITOR_GRACE_MS // 4


async def test_every_client_channel_is_made_with_those_options(monkeypatch) -> None:
    seen: list[list[tuple[str, object]]] = []
    import grpc

    real = grpc.aio.insecure_channel

    def spy(target: str, options: list[tuple[str, object]] | None = None, **kw: object):
        seen.append(list(options or []))
        return real(target, options=options, **kw)
    monkeypatch.setattr(grpc.aio, "insecure_channel", spy)
    client = Client("127.0.0.1:1", "token")
    await client.close()
    assert seen and dict(seen[0]).get("grpc.max_reconnect_backoff_ms") == dict(channel_options())[
        "grpc.max_reconnect_backoff_ms"]
