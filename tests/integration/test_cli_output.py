"""What the `kubelab` CLI prints from objects, as a real process on a real apiserver.

One control plane for the module (`local_cluster`: etcd and the apiserver,
started by the launcher `kubelab cluster up --local` uses); no scheduler or
controllers, so objects stay as the test wrote them. Commands run as
`python -m kubectl` subprocesses, so the assertions are on the bytes a
terminal would receive.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]

# An OSC sequence (retitle the terminal: ESC ] ... BEL), colours (CSI) and a CR that would overwrite the line.
HOSTILE = "\x1b]0;pwned\x07 \x1b[31mred\x1b[0m\rhidden"
# kubectl's printers.EscapeTerminal: ESC shows as ^[, CR as \r; the rest of a sequence is inert text.
SHOWN = "^[]0;pwned\x07 ^[[31mred^[[0m\\rhidden"


def run(cluster: dict[str, Any], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """`kubelab ARGS` as a process: exit code, stdout and stderr exactly as written (bytes decoded; text mode
    would turn a CR into a newline and hide it)."""
    kubeconfig = str(Path(cluster["state_path"]).parent / "kubeconfig")
    p = subprocess.run([sys.executable, "-m", "kubectl", *args, "--kubeconfig", kubeconfig], cwd=ROOT,
                       input=None if stdin is None else stdin.encode(), capture_output=True,
                       env=dict(os.environ), timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def kl(cluster: dict[str, Any], *args: str, stdin: str | None = None) -> str:
    code, out, err = run(cluster, *args, stdin=stdin)
    assert code == 0, f"kubelab {' '.join(args)} failed ({code}):\n{err}"
    return out


@pytest.fixture(scope="module")
def hostile(local_cluster: dict[str, Any]) -> dict[str, Any]:
    """A pod annotated, an event, and a deployment's revision with a change-cause, all holding escapes."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web", "namespace": "default", "annotations": {"note": HOSTILE}},
           "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1", "namespace": "default"},
             "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
             "type": "Warning", "reason": "Odd", "message": HOSTILE, "count": 1,
             "source": {"component": "test"}}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"},
              "spec": {"selector": {"matchLabels": {"app": "d"}},
                       "template": {"metadata": {"labels": {"app": "d"}},
                                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    kl(local_cluster, "create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                              "items": [pod, event, deploy]}))
    uid = kl(local_cluster, "get", "deploy", "d", "-o", "jsonpath={.metadata.uid}")
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "d-1", "namespace": "default", "labels": {"app": "d"},
                       "annotations": {"deployment.kubernetes.io/revision": "1",
                                       "kubernetes.io/change-cause": HOSTILE},
                       "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "d",
                                            "uid": uid, "controller": True}]},
          "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "d"}},
                   "template": {"metadata": {"labels": {"app": "d"}},
                                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    kl(local_cluster, "create", "-f", "-", stdin=json.dumps(rs))
    return local_cluster


def test_describe_prints_annotations_and_events_escaped(hostile: dict[str, Any]) -> None:
    out = kl(hostile, "describe", "pod", "web")
    assert "\x1b" not in out and "\r" not in out
    assert [line.split(None, 1)[1] for line in out.splitlines() if line.startswith("Annotations:")] == \
        [f"note: {SHOWN}"]
    assert out.rstrip("\n").endswith(f"test  {SHOWN}")          # the Events table's message


def test_get_tables_print_cells_escaped(hostile: dict[str, Any]) -> None:
    out = kl(hostile, "get", "events")
    assert "\x1b" not in out and "\r" not in out
    assert out.splitlines()[1].endswith("Warning   Odd      pod/web   ^[]0;pwned\x07 ^[[31mred^[[0m...")
    out = kl(hostile, "get", "pod", "web", "-o", "custom-columns=NAME:.metadata.name,NOTE:.metadata.annotations.note")
    assert out == f"NAME   NOTE\nweb    {SHOWN}\n"
    out = kl(hostile, "rollout", "history", "deployment/d")
    assert out == f"deployment.apps/d \nREVISION  CHANGE-CAUSE\n1         {SHOWN}\n\n"


def test_data_formats_print_the_value_as_it_is(hostile: dict[str, Any]) -> None:
    # as kubectl: jsonpath and go-template print the data itself, for scripts
    assert kl(hostile, "get", "pod", "web", "-o", "jsonpath={.metadata.annotations.note}") == HOSTILE
    assert kl(hostile, "get", "pod", "web", "-o", "go-template={{.metadata.annotations.note}}") == HOSTILE


def test_sort_by_through_the_cli(hostile: dict[str, Any]) -> None:
    services = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "sorting"},
                 "spec": {"ports": [{"port": port}]}} for name, port in (("a", 82), ("b", 80), ("c", 81))]
    kl(hostile, "create", "namespace", "sorting")
    kl(hostile, "create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": services}))
    out = kl(hostile, "get", "svc", "-n", "sorting", "--sort-by", "spec.ports[0].port", "-o", "name")
    assert out == "service/b\nservice/c\nservice/a\n"
    out = kl(hostile, "get", "svc", "-n", "sorting", "--sort-by", "{.spec.ports[?(@.port>80)].port}")
    assert [line.split()[0] for line in out.splitlines()] == ["NAME", "b", "c", "a"]
    assert run(hostile, "get", "svc", "-n", "sorting", "--sort-by", ".spec.nope") == \
        (1, "", 'error: couldn\'t find any field with path "{.spec.nope}" in the list of objects\n')
