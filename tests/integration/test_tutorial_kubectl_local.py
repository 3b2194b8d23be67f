"""docs/tutorial.md's API part with the real kubectl 1.37 beside kubelab, on `kubelab cluster up --local
--hollow-nodes 3`: get, create, apply, scale, set image, rollout, label, expose, delete, describe, drain, events,
proxy, each as the doc has it (read from the doc at test time, tests/tutorial_walk.py), with the same outcome:
exit code, table headers, rows and describe lines once names, addresses and ages are normalised.

The cluster is started as a user starts it (the CLI, a temp state dir, $KUBECONFIG and $KUBELAB_CONFIG in a temp
dir); kubectl reads the kubeconfig `cluster up` wrote. Hollow nodes run no containers, so exec, logs and
port-forward are the e2e walk's (tests/e2e/test_tutorial_kubectl.py); this walk says which it left to it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests import realclients
from tests.tutorial_walk import (DOCUMENTED_DIFFERENCES, STREAMING_VERBS, Tool, Walk, doc_commands, kubectl_tool,
                                 kubelab_tool, not_kubectl, verb_of)

from .conftest import need_etcd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _kubelab(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubectl", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_etcd()
    tmp = tmp_path_factory.mktemp("tutorial")
    env = {**os.environ, "KUBECONFIG": str(tmp / "kube-config"), "KUBELAB_CONFIG": str(tmp / "kubeconfig")}
    state = str(tmp / "state")
    up = _kubelab(env, "cluster", "up", "--local", "--hollow-nodes", "3", "--state-dir", state)
    try:
        assert up.returncode == 0, up.stderr
        assert "3/3 nodes Ready" in up.stdout.splitlines(), up.stdout
        yield {"tmp": tmp, "env": env}
    finally:
        down = _kubelab(env, "cluster", "down", "--local", "--state-dir", state)
        assert down.returncode == 0, down.stderr


def worlds(lab: dict[str, Any]) -> tuple[Tool, Tool, Tool]:
    """kubectl 1.37 in namespace tut-k, kubelab in tut-l (each its own kubeconfig copy); kubectl 1.20 shares
    kubectl 1.37's kubeconfig."""
    tmp = lab["tmp"]
    a = kubectl_tool(realclients.kubectl_137(), tmp / "kube-config", tmp / "home-kubectl", "k", "kubectl-1.37")
    b = kubelab_tool(tmp / "kubeconfig", tmp / "kube-config", tmp / "home-kubelab", "l")
    old = Tool("kubectl-1.20", [str(realclients.kubectl_120())], {**a.env, "HOME": str(tmp / "home-kubectl-1.20")},
               "k")
    for tool in (a, b):
        r = tool.run(["create", "namespace", tool.namespace])
        assert r.code == 0, r
        context = tool.run(["config", "current-context"]).out.strip()
        r = tool.run(["config", "set-context", context, f"--namespace={tool.namespace}"])
        assert r.code == 0, r
    return a, b, old


def test_the_tutorial_api_part_gives_kubectls_outcome(lab: dict[str, Any], tmp_path: Path) -> None:
    a, b, old = worlds(lab)
    walk = Walk(a, b, old, tmp_path, containers=False, settle=90)
    walk.run()

    commands = doc_commands()
    ran = [c for c, _ in walk.ran]
    skipped = [c for c, _ in walk.skipped]
    # every command of the doc is accounted for: compared, or left out for a reason this file states
    assert sorted(set(ran) | set(skipped), key=lambda c: (c.line, c.text)) == \
        sorted(set(commands), key=lambda c: (c.line, c.text))
    for cmd, why in walk.skipped:
        assert not_kubectl(cmd) == why or (verb_of(cmd) in STREAMING_VERBS and "hollow nodes" in why), (cmd, why)
    # the API part itself was compared, not skipped
    api_verbs = {"get", "create", "apply", "scale", "set", "rollout", "delete", "describe", "expose", "drain",
                 "uncordon", "config", "version", "proxy"}
    assert api_verbs <= {verb_of(c) for c in ran}, {verb_of(c) for c in ran}
    assert not any(c.text in DOCUMENTED_DIFFERENCES for c in skipped)
    report = "\n".join(f"  line {c.line}: {c.text}  [{how}]" for c, how in walk.ran) + "\nleft out:\n" + \
        "\n".join(f"  line {c.line}: {c.text}  [{why}]" for c, why in walk.skipped)
    print(report)


def test_label_and_events_as_kubectl_has_them(lab: dict[str, Any], tmp_path: Path) -> None:
    """The doc's "Watching the machinery": `get events` (and `label`, which seed 003's Japanese text uses on the
    bootcamp pod): the same table with kubectl and kubelab."""
    a, b, _ = worlds_again(lab)
    from tests.tutorial_walk import eventually_same, once_same, table_view, text_view
    for tool in (a, b):
        r = tool.run(["create", "deployment", "labelled", "--image=jocatalin/kubernetes-bootcamp:v1"])
        assert r.code == 0, r
    for tool in (a, b):
        r = tool.run(["rollout", "status", "deployment/labelled", "--timeout=60s"])
        assert r.code == 0, r
    ra, rb = (t.run(["label", "deployment", "labelled", "seed=003"]) for t in (a, b))
    once_same(ra, a, rb, b, text_view)
    assert rb.out == "deployment.apps/labelled labeled\n"
    eventually_same(lambda: a.run(["get", "deployments", "-l", "seed=003"]), a,
                    lambda: b.run(["get", "deployments", "-l", "seed=003"]), b, table_view, 60)
    eventually_same(lambda: a.run(["get", "events"]), a, lambda: b.run(["get", "events"]), b, table_view, 60)
    # kubectl names the port of `create service clusterip NAME --tcp=80:8080` `80-8080`: a valid Service port name
    r = a.run(["create", "service", "clusterip", "web", "--tcp=80:8080"])
    assert (r.code, r.out) == (0, "service/web created\n"), r
    assert a.run(["get", "service", "web", "-o", "jsonpath={.spec.ports[0].name}"]).out == "80-8080"


def worlds_again(lab: dict[str, Any]) -> tuple[Tool, Tool, Tool]:
    """Fresh worlds (namespaces tut2-k, tut2-l) for a test of its own."""
    tmp = lab["tmp"]
    a = kubectl_tool(realclients.kubectl_137(), tmp / "kube-config", tmp / "home2-kubectl", "k", "kubectl-1.37")
    b = kubelab_tool(tmp / "kubeconfig", tmp / "kube-config", tmp / "home2-kubelab", "l")
    old = Tool("kubectl-1.20", [str(realclients.kubectl_120())], {**a.env, "HOME": str(tmp / "home2-kubectl-1.20")},
               "k")
    for tool in (a, b):
        ns = f"tut2-{tool.world}"
        assert tool.run(["create", "namespace", ns]).code == 0
        context = tool.run(["config", "current-context"]).out.strip()
        assert tool.run(["config", "set-context", context, f"--namespace={ns}"]).code == 0
        tool.names = (lambda ns=ns: {ns: "<ns>"})  # type: ignore[method-assign]
    return a, b, old
