"""The FitError message and how many nodes a decision looks at."""
from __future__ import annotations

from collections import Counter

import pytest

from scheduler.algorithm import fit_error_message, num_feasible_nodes_to_find


@pytest.mark.parametrize("n,reasons,expected", [
    pytest.param(3, {"node(s) didn't match pod anti-affinity rules": 2, "node(s) were unschedulable": 1},
                 "0/3 nodes are available: 1 node(s) were unschedulable, "
                 "2 node(s) didn't match pod anti-affinity rules.", id="design-example"),
    pytest.param(3, {"Insufficient cpu": 3}, "0/3 nodes are available: 3 Insufficient cpu.", id="one-reason"),
    pytest.param(12, {"Insufficient cpu": 10, "Insufficient memory": 2},
                 "0/12 nodes are available: 10 Insufficient cpu, 2 Insufficient memory.", id="string-sort-of-counts"),
    pytest.param(2, {"Insufficient memory": 2, "Insufficient cpu": 2},
                 "0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory.", id="same-count-by-reason"),
    pytest.param(1, {"node(s) had untolerated taint {dedicated: gpu}": 1},
                 "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}.", id="taint"),
    pytest.param(0, {}, "no nodes available to schedule pods", id="no-nodes"),
])
def test_fit_error_message(n, reasons, expected):
    assert fit_error_message(n, Counter(reasons)) == expected


@pytest.mark.parametrize("nodes,percentage,expected", [
    pytest.param(3, 0, 3, id="small-cluster-all"),
    pytest.param(99, 0, 99, id="below-minimum-all"),
    pytest.param(1000, 0, 420, id="adaptive-1000"),
    pytest.param(5000, 0, 500, id="adaptive-5000"),
    pytest.param(10000, 0, 500, id="adaptive-floor-5-percent"),
    pytest.param(1000, 10, 100, id="fixed-10-percent"),
    pytest.param(1000, 5, 100, id="never-below-100"),
    pytest.param(1000, 100, 1000, id="all"),
])
def test_num_feasible_nodes_to_find(nodes, percentage, expected):
    assert num_feasible_nodes_to_find(nodes, percentage) == expected
