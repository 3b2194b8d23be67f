"""The tutorial walk's reading of docs/tutorial.md and its normalising (tests/tutorial_walk.py): what the e2e and
integration walks compare rests on it."""
from __future__ import annotations

import pytest

from tests.tutorial_walk import (DOC, Result, Tool, describe_view, doc_commands, in_pod_lines, normalise,
                                 not_kubectl, table_view, view_for, world_namespace)

SAMPLE = """\
# Title

Run `kubelab get nodes -o wide` first; `kubelab apply` alone is a mention.

## Seed 9 — a section

    bash scripts/lab-up.sh          # or: kubelab cluster up
    kubelab apply -f web.yaml       # image: nginx
    kubelab exec -it web -- bash
      apt update && apt install -y curl
      curl -i localhost:80          # HTTP/1.1 200 OK
    kubelab delete pod <one>; kubelab get pod
    # seed 3: kubelab create deployment d --image=x
    kubelab image ls
"""


def test_commands_come_from_code_blocks_comments_and_running_text_in_order() -> None:
    cmds = doc_commands(SAMPLE)
    assert [c.text for c in cmds] == [
        "kubelab get nodes -o wide", "kubelab apply", "kubelab apply -f web.yaml", "kubelab exec -it web -- bash",
        "kubelab delete pod <one>", "kubelab get pod", "kubelab create deployment d --image=x", "kubelab image ls"]
    assert [c.inline for c in cmds][:3] == [True, True, False]
    assert cmds[2].section == "Seed 9 — a section" and cmds[2].line == 8
    assert in_pod_lines(SAMPLE, cmds[3].line) == ["apt update && apt install -y curl", "curl -i localhost:80"]
    assert not_kubectl(cmds[1]) == "a mention in running text, not a command"
    assert not_kubectl(cmds[-1]) == "`image` is kubelab's own verb: kubectl has none"
    assert not_kubectl(cmds[0]) is None


def test_the_real_doc_has_the_seeds_commands() -> None:
    texts = [c.text for c in doc_commands()]
    assert "kubelab scale deployments/kubernetes-bootcamp --replicas=4" in texts
    assert texts.index("kubelab create namespace handson") < texts.index("kubelab rollout undo deployments/"
                                                                          "kubernetes-bootcamp")


def _tool(world: str) -> Tool:
    return Tool("t", [], {}, world)


def test_worlds_read_alike_once_names_addresses_and_ages_are_normalised() -> None:
    k = ('NAME                                   READY   STATUS    RESTARTS   AGE   IP         NODE\n'
         'kubernetes-bootcamp-7d45b577c6-2bsw9   1/1     Running   0          93s   10.0.0.8   node1\n')
    l_ = ('NAME                                   READY   STATUS    RESTARTS   AGE    IP          NODE\n'
          'kubernetes-bootcamp-7d45b577c6-q9x2z   1/1     Running   0          2m1s   10.0.1.10   node3\n')
    assert table_view(Result(0, k, ""), _tool("k")) == table_view(Result(0, l_, ""), _tool("l"))
    other_hash = l_.replace("7d45b577c6", "6694449d78")      # another template: another pod-template-hash
    assert table_view(Result(0, k, ""), _tool("k")) != table_view(Result(0, other_hash, ""), _tool("l"))
    assert normalise('pod "web" deleted from handson-k namespace', _tool("k")) == \
        normalise('pod "web" deleted from handson-l namespace', _tool("l"))
    assert view_for(["get", "pods", "-o", "wide"]) is table_view
    assert view_for(["get", "pods", "-o", "name"]) is not table_view
    assert view_for(["describe", "pods"]) is describe_view


def test_describe_compares_event_rows_as_a_multiset() -> None:
    head = "Name: p\nEvents:\n  Type    Reason  Age  From  Message\n  ----\n"
    a = head + "  Normal  A  1s  x  one\n  Normal  B  1s  x  two\n"
    b = head + "  Normal  B  2s  x  two\n  Normal  A  2s  x  one\n"
    assert describe_view(Result(0, a, ""), _tool("k")) == describe_view(Result(0, b, ""), _tool("l"))
    assert describe_view(Result(0, a, ""), _tool("k")) != describe_view(Result(0, a.replace("two", "three"), ""),
                                                                        _tool("l"))


def test_the_bootcamp_lists_its_pods_in_default_where_they_are_alone() -> None:
    """The bootcamp's `export POD_NAME=$(kubelab get pods -o go-template ...)` takes every pod of the context's
    namespace: the doc moves the context back to `default` (the namespace its proxy URL names) first, so seed
    001's bastion and friends in `handson` are not among them."""
    cmds = doc_commands()
    export = next(i for i, c in enumerate(cmds) if c.text.startswith("export POD_NAME="))
    contexts = [c.text for c in cmds[:export] if c.text.startswith("kubelab config set-context")]
    assert contexts[-1].endswith("--namespace=default"), contexts
    assert contexts[0].endswith("--namespace=handson"), contexts
    after = DOC.read_text().splitlines()[cmds[export].line]         # the line after the export: the curl
    assert "namespaces/default/pods/$POD_NAME/" in after, after
    # the URL names no port: the apiserver takes the pod's first containerPort (8080, as seed 002's
    # `run --port=8080` declared it), so the doc's `create deployment` declares it too
    makes = [c.text for c in cmds[:export] if "kubernetes-bootcamp --image=" in c.text]
    assert len(makes) == 2 and all("--port=8080" in c for c in makes), makes


def test_each_world_has_its_own_copy_of_the_docs_namespaces() -> None:
    k, l_ = _tool("k"), _tool("l")
    assert (world_namespace(k, "handson"), world_namespace(l_, "handson")) == ("handson-k", "handson-l")
    # the lab's default is shared with other tests: a world's `default` is its own namespace
    assert (world_namespace(k, "default"), world_namespace(l_, "default")) == ("tut-k", "tut-l")
    with pytest.raises(AssertionError, match="kube-system"):
        world_namespace(k, "kube-system")


def test_a_curl_the_node_refuses_reads_as_status_0_until_the_deadline() -> None:
    from lab.local import free_port
    from tests.walk_io import http_until
    port = free_port()          # nothing listens there
    status, body = http_until(f"http://127.0.0.1:{port}/", lambda s, b: s == 200, 0)
    assert status == 0 and "Connection refused" in body, body
