"""The apiserver's Prometheus metrics, named as Kubernetes' apiserver names them.

Request counts and latencies per verb and resource (`apiserver_request_total`,
`apiserver_request_duration_seconds`), etcd call latencies
(`etcd_request_duration_seconds`), and, read from the watch cache when
scraped, object counts (`apiserver_storage_objects`) and open watches
(`apiserver_registered_watchers`). Served over HTTP by kubelab.serving at
`/metrics`; with `--workers N` each worker serves its own figures.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Kubernetes' apiserver buckets, trimmed to the range a lab sees.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _WatchCacheCollector(Collector):
    """Object and watcher counts, computed at scrape time so the hot path pays nothing."""

    def __init__(self, caches: Callable[[], dict[str, Any]]) -> None:
        self.caches = caches

    def collect(self) -> Iterator[GaugeMetricFamily]:
        objects = GaugeMetricFamily("apiserver_storage_objects", "Objects stored, per resource (from the watch cache).",
                                    labels=["resource"])
        watchers = GaugeMetricFamily("apiserver_registered_watchers", "Open watches, per kind.", labels=["kind"])
        revision = GaugeMetricFamily("apiserver_watch_cache_resource_version",
                                     "The newest etcd revision each kind's watch cache has seen.", labels=["resource"])
        for kind, cache in sorted(self.caches().items()):
            resource = cache.info.plural
            objects.add_metric([resource], len(cache.objects))
            watchers.add_metric([kind], len(cache.watchers))
            revision.add_metric([resource], cache.revision)
        yield objects
        yield watchers
        yield revision


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("apiserver_request_total", "Requests served, per verb, resource and result code.",
                                ["verb", "resource", "code"], registry=self.registry)
        self.latency = Histogram("apiserver_request_duration_seconds",
                                 "Time to serve a request (watches: time to set up), per verb and resource.",
                                 ["verb", "resource"], buckets=REQUEST_BUCKETS, registry=self.registry)
        self.etcd_latency = Histogram("etcd_request_duration_seconds", "Time of each etcd call, per operation.",
                                      ["operation"], buckets=REQUEST_BUCKETS, registry=self.registry)

    def watch_caches(self, caches: Callable[[], dict[str, Any]]) -> None:
        self.registry.register(_WatchCacheCollector(caches))

    def observe(self, verb: str, resource: str, code: str, started: float) -> None:
        self.requests.labels(verb, resource, code).inc()
        self.latency.labels(verb, resource).observe(time.perf_counter() - started)

    def observe_etcd(self, operation: str, started: float) -> None:
        self.etcd_latency.labels(operation).observe(time.perf_counter() - started)

    def render(self) -> str:
        return generate_latest(self.registry).decode()
