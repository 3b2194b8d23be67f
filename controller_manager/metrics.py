"""A few Prometheus-format metrics (text exposition 0.0.4), no dependency.

Per controller: reconciles, errors, time spent, queue depth; plus whether
this replica leads. Rendered by `serving` at /metrics.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable


class Metrics:
    def __init__(self) -> None:
        self.reconciles: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.depth: dict[str, Callable[[], int]] = {}
        self.leader = 0

    def observe(self, controller: str, seconds: float, ok: bool) -> None:
        self.reconciles[controller] += 1
        self.seconds[controller] += seconds
        if not ok:
            self.errors[controller] += 1

    def render(self) -> str:
        lines = [
            "# HELP kubelab_controller_reconcile_total Reconciles run, per controller.",
            "# TYPE kubelab_controller_reconcile_total counter",
            *(f'kubelab_controller_reconcile_total{{controller="{c}"}} {n}' for c, n in sorted(self.reconciles.items())),
            "# HELP kubelab_controller_reconcile_errors_total Reconciles that failed and were retried.",
            "# TYPE kubelab_controller_reconcile_errors_total counter",
            *(f'kubelab_controller_reconcile_errors_total{{controller="{c}"}} {n}'
              for c, n in sorted(self.errors.items())),
            "# HELP kubelab_controller_reconcile_seconds_total Time spent reconciling.",
            "# TYPE kubelab_controller_reconcile_seconds_total counter",
            *(f'kubelab_controller_reconcile_seconds_total{{controller="{c}"}} {s:.6f}'
              for c, s in sorted(self.seconds.items())),
            "# HELP kubelab_workqueue_depth Keys waiting in a controller's queue.",
            "# TYPE kubelab_workqueue_depth gauge",
            *(f'kubelab_workqueue_depth{{controller="{c}"}} {f()}' for c, f in sorted(self.depth.items())),
            "# HELP kubelab_leader_election_master_status 1 while this replica leads.",
            "# TYPE kubelab_leader_election_master_status gauge",
            f'kubelab_leader_election_master_status{{name="kube-controller-manager"}} {self.leader}',
        ]
        return "\n".join(lines) + "\n"
