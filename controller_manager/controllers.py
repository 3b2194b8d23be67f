"""The controllers, by name: what `--controllers` switches on and off.

`--controllers=*` (the default) runs all of them; `*,-garbagecollector`
all but one; `replicaset,deployment` only those. Names are Kubernetes'.
"""
from __future__ import annotations

from .base import Controller
from .deployment import DeploymentController
from .disruption import DisruptionController
from .endpoints import EndpointsController
from .endpointslice import EndpointSliceController, EndpointSliceMirroringController
from .garbagecollector import GarbageCollector
from .namespace import NamespaceController
from .nodelifecycle import NodeLifecycleController
from .replicaset import ReplicaSetController
from .serviceaccount import ServiceAccountsController
from .servicelb import ServiceLBController

REGISTRY: dict[str, type[Controller]] = {
    "replicaset": ReplicaSetController,
    "deployment": DeploymentController,
    "endpoint": EndpointsController,
    "endpointslice": EndpointSliceController,
    "endpointslicemirroring": EndpointSliceMirroringController,
    "nodelifecycle": NodeLifecycleController,
    "garbagecollector": GarbageCollector,
    "namespace": NamespaceController,
    "disruption": DisruptionController,
    "servicelb": ServiceLBController,
    "serviceaccount": ServiceAccountsController,
}
ALIASES = {"endpoints": "endpoint", "endpointslices": "endpointslice", "replicasets": "replicaset", "deployments": "deployment",
           "node-lifecycle": "nodelifecycle", "gc": "garbagecollector",
           "service-lb": "servicelb", "serviceaccounts": "serviceaccount"}


class UnknownController(ValueError):
    pass


def enabled(spec: list[str]) -> list[str]:
    """Resolve `--controllers` items (`*`, `name`, `-name`) to the names to run, in registry order."""
    on: set[str] = set()
    off: set[str] = set()
    star = False
    for raw in spec:
        for item in (s.strip() for s in raw.split(",")):
            if not item:
                continue
            if item == "*":
                star = True
                continue
            neg = item.startswith("-")
            name = ALIASES.get(item.lstrip("-"), item.lstrip("-"))
            if name not in REGISTRY:
                raise UnknownController(f'unknown controller "{item.lstrip("-")}" '
                                        f'(known: {", ".join(REGISTRY)})')
            (off if neg else on).add(name)
    chosen = (set(REGISTRY) if star else set()) | on
    return [n for n in REGISTRY if n in chosen and n not in off]
