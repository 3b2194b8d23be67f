"""One strategy per kind: defaulting, validation, what create/update may set."""
from __future__ import annotations

from kubelab import kinds

from .common import FieldError, FieldErrors, Strategy, raise_invalid
from .discovery import EndpointSliceStrategy
from .pod import PodStrategy
from .rbac import (ClusterRoleBindingStrategy, ClusterRoleStrategy, RoleBindingStrategy, RoleStrategy,
                   ServiceAccountStrategy)
from .service import ServiceStrategy
from .simple import (EndpointsStrategy, EventStrategy, LeaseStrategy, NamespaceStrategy, NodeStrategy,
                     PodDisruptionBudgetStrategy)
from .workloads import DeploymentStrategy, ReplicaSetStrategy


def strategies(service_cidr: str = "10.96.0.0/16",
               node_port_range: tuple[int, int] = (30000, 32767)) -> dict[str, Strategy]:
    b = kinds.BY_KIND
    return {
        "Namespace": NamespaceStrategy(b["Namespace"]),
        "Node": NodeStrategy(b["Node"]),
        "Pod": PodStrategy(b["Pod"]),
        "ReplicaSet": ReplicaSetStrategy(b["ReplicaSet"]),
        "Deployment": DeploymentStrategy(b["Deployment"]),
        "Service": ServiceStrategy(b["Service"], service_cidr, node_port_range),
        "Endpoints": EndpointsStrategy(b["Endpoints"]),
        "EndpointSlice": EndpointSliceStrategy(b["EndpointSlice"]),
        "PodDisruptionBudget": PodDisruptionBudgetStrategy(b["PodDisruptionBudget"]),
        "Event": EventStrategy(b["Event"]),
        "Lease": LeaseStrategy(b["Lease"]),
        "ServiceAccount": ServiceAccountStrategy(b["ServiceAccount"]),
        "Role": RoleStrategy(b["Role"]),
        "ClusterRole": ClusterRoleStrategy(b["ClusterRole"]),
        "RoleBinding": RoleBindingStrategy(b["RoleBinding"]),
        "ClusterRoleBinding": ClusterRoleBindingStrategy(b["ClusterRoleBinding"]),
    }


__all__ = ["strategies", "Strategy", "FieldError", "FieldErrors", "raise_invalid"]
