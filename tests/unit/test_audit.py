"""The audit log (apiserver.audit): policy decisions as kube-apiserver makes them, events as it writes
them, a log file that rotates by size and keeps its backups."""
from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from apiserver import audit
from apiserver.audit import RequestInfo


def _req(verb: str = "create", resource: str = "pods", group: str = "", **kw: str) -> RequestInfo:
    return RequestInfo(verb=verb, user=kw.pop("user", "admin"), groups=("system:masters", "system:authenticated"),
                       user_agent="kubectl/v1.37.1", resource=resource, api_group=group,
                       namespace=kw.pop("namespace", "default"), name=kw.pop("name", "web"), **kw)


DEFAULT = audit.load_policy(None)


@pytest.mark.parametrize("info, level", [
    pytest.param(_req("create"), "Metadata", id="create"),
    pytest.param(_req("delete", "deployments", "apps"), "Metadata", id="delete deploy"),
    pytest.param(_req("update", "pods", subresource="status"), "Metadata", id="status"),
    pytest.param(_req("get"), "None", id="get"),
    pytest.param(_req("list"), "None", id="list"),
    pytest.param(_req("watch"), "None", id="watch"),
    pytest.param(_req("update", "leases", "coordination.k8s.io"), "None", id="lease renew"),
    pytest.param(_req("create", "events"), "None", id="event"),
])
def test_the_default_policy_leaves_out_reads_leases_and_events(info: RequestInfo, level: str) -> None:
    assert DEFAULT.decide(info)[0] == level
    assert "RequestReceived" in DEFAULT.decide(info)[1]


def test_rules_match_in_order_on_users_groups_resources_names_and_namespaces() -> None:
    policy = audit.parse_policy({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [
        {"level": "None", "users": ["system:kube-proxy"]},
        {"level": "RequestResponse", "resources": [{"group": "apps", "resources": ["deployments/scale"]}]},
        {"level": "Request", "resources": [{"group": "", "resources": ["pods"], "resourceNames": ["special"]}]},
        {"level": "Metadata", "namespaces": ["kube-system"]},
        {"level": "Metadata", "nonResourceURLs": ["/healthz*"]},
    ]})
    assert policy.decide(_req(user="system:kube-proxy"))[0] == "None"
    assert policy.decide(_req("update", "deployments", "apps", subresource="scale"))[0] == "RequestResponse"
    assert policy.decide(_req("update", "deployments", "apps"))[0] == "None"
    assert policy.decide(_req(name="special"))[0] == "Request"
    assert policy.decide(_req(namespace="kube-system"))[0] == "Metadata"
    assert policy.decide(RequestInfo(verb="get", user="x", non_resource_url="/healthz/etcd"))[0] == "Metadata"
    assert policy.decide(_req())[0] == "None"               # no rule: not audited


@pytest.mark.parametrize("doc, message", [
    pytest.param({"kind": "Policy"}, 'apiVersion "audit.k8s.io/v1"', id="version"),
    pytest.param({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Loud"}]},
                 'rules[0].level: Unsupported value: "Loud"', id="level"),
    pytest.param({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["Later"]},
                 'policy.omitStages: Unsupported value: "Later"', id="stage"),
    pytest.param({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                  "rules": [{"level": "None", "nonResourceURLs": ["/x"], "namespaces": ["a"]}]},
                 "both regular resources and non-resource URLs", id="mixed"),
    pytest.param({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "None", "verbs": "get"}]},
                 "rules[0].verbs: must be a list of strings", id="verbs type"),
])
def test_a_bad_policy_is_refused_naming_the_field(doc: dict, message: str) -> None:
    with pytest.raises(audit.PolicyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        audit.parse_policy(doc)


def test_a_policy_file_is_read(tmp_path: Path) -> None:
    p = tmp_path / "policy.yaml"
    p.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n")
    assert audit.load_policy(p).decide(_req("get"))[0] == "RequestResponse"
    with pytest.raises(audit.PolicyError, match="reading the audit policy"):
        audit.load_policy(tmp_path / "missing.yaml")


def test_an_event_has_what_kubernetes_writes(tmp_path: Path) -> None:
    log = audit.AuditLog(audit.AuditConfig(log_path=str(tmp_path / "audit.log")))
    rec = log.begin(_req("create", "deployments", "apps", name="web"))
    log.finish(rec, 201, resource_version="1234")
    log.flush()
    [ev] = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert ev["apiVersion"] == "audit.k8s.io/v1" and ev["kind"] == "Event"
    assert ev["stage"] == "ResponseComplete" and ev["level"] == "Metadata" and ev["verb"] == "create"
    assert ev["user"] == {"username": "admin", "groups": ["system:masters", "system:authenticated"]}
    assert ev["userAgent"] == "kubectl/v1.37.1"
    assert ev["objectRef"] == {"resource": "deployments", "namespace": "default", "name": "web",
                               "apiGroup": "apps", "apiVersion": "v1", "resourceVersion": "1234"}
    assert ev["responseStatus"] == {"metadata": {}, "code": 201}
    assert ev["requestURI"] == "/apis/apps/v1/namespaces/default/deployments"        # POSTed to the collection
    assert ev["requestReceivedTimestamp"] <= ev["stageTimestamp"]
    assert len(ev["auditID"]) == 36
    assert "requestObject" not in ev               # Metadata carries no bodies


def test_request_response_level_carries_the_bodies_and_failures_their_message() -> None:
    seen: list[dict] = []
    log = audit.AuditLog(audit.AuditConfig(policy_file=""))
    log.policy = audit.parse_policy({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                                     "omitStages": ["RequestReceived"], "rules": [{"level": "RequestResponse"}]})
    log.subscribers.append(seen.append)
    rec = log.begin(_req("create"), request_object={"kind": "Pod"})
    log.finish(rec, 409, response_object={"kind": "Status"}, message='pods "web" already exists')
    [ev] = seen
    assert ev["requestObject"] == {"kind": "Pod"} and ev["responseObject"] == {"kind": "Status"}
    assert ev["responseStatus"] == {"metadata": {}, "code": 409, "status": "Failure",
                                    "message": 'pods "web" already exists'}


def test_request_received_is_written_unless_omitted(tmp_path: Path) -> None:
    seen: list[dict] = []
    log = audit.AuditLog(audit.AuditConfig())
    log.policy = audit.parse_policy({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]})
    log.subscribers.append(seen.append)
    log.finish(log.begin(_req()), 201)
    assert [e["stage"] for e in seen] == ["RequestReceived", "ResponseComplete"]
    assert seen[0]["auditID"] == seen[1]["auditID"] and "responseStatus" not in seen[0]


def test_the_log_rotates_by_size_and_keeps_max_backups(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.log"
    f = audit.RotatingFile(path, max_bytes=1000, max_backups=2)
    for i in range(40):
        f.write_lines([json.dumps({"n": i, "pad": "x" * 80})])
    f.close()
    backups = sorted(tmp_path.joinpath("logs").glob("audit-*.log"))
    assert len(backups) == 2                       # older ones removed
    assert path.stat().st_size <= 1000 and all(b.stat().st_size <= 1000 for b in backups)
    lines = [json.loads(x) for b in backups + [path] for x in b.read_text().splitlines()]
    assert [d["n"] for d in lines] == list(range(40 - len(lines), 40))      # the newest, in order, none torn
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_writes_are_batched_off_the_request_path(tmp_path: Path) -> None:
    log = audit.AuditLog(audit.AuditConfig(log_path=str(tmp_path / "audit.log")), flush_interval=0.05)
    for i in range(5):
        log.finish(log.begin(_req(name=f"p{i}")), 201)
    assert (tmp_path / "audit.log").read_text() == ""          # nothing written inside the requests
    await asyncio.sleep(0.2)
    assert len((tmp_path / "audit.log").read_text().splitlines()) == 5
    log.close()


def test_off_by_default_and_nothing_recorded() -> None:
    log = audit.AuditLog(audit.AuditConfig())
    assert log.begin(_req()) is None


def test_an_event_carries_the_users_extra(tmp_path: Path) -> None:
    """A ServiceAccount token's user has `extra` (its pod, its credential id): the event's user says it, as
    kube-apiserver's does."""
    log = audit.AuditLog(audit.AuditConfig(log_path=str(tmp_path / "audit.log")))
    extra = (("authentication.kubernetes.io/credential-id", ("JTI=abc",)),
             ("authentication.kubernetes.io/pod-name", ("web",)))
    req = RequestInfo(verb="create", user="system:serviceaccount:default:default",
                      groups=("system:serviceaccounts",), extra=extra, resource="pods", namespace="default")
    log.finish(log.begin(req), 201, resource_version="7")
    log.flush()
    [ev] = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert ev["user"] == {"username": "system:serviceaccount:default:default", "groups": ["system:serviceaccounts"],
                          "extra": {"authentication.kubernetes.io/credential-id": ["JTI=abc"],
                                    "authentication.kubernetes.io/pod-name": ["web"]}}
