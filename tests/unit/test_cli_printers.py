"""kubectl's look: ages, tabwriter alignment, table cells per kind, -o formats."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kubectl import printers, tabwriter
from kubectl.printers import OutputFormat, TableOptions
from kubectl.timefmt import age, human_duration, parse_duration, rfc1123
from kubelab import manifests

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def obj(kind: str, api: str = "v1", **fields: Any) -> Any:
    data = {"apiVersion": api, "kind": kind, "metadata": {"name": "x", "namespace": "default",
                                                           "creationTimestamp": ts(30)}}
    data.update(fields)
    return manifests.from_dict(data)


# ---------------------------------------------------------------- ages
@pytest.mark.parametrize("seconds,expected", [
    pytest.param(-5, "<invalid>", id="future"),
    pytest.param(-1, "0s", id="clock-skew"),
    pytest.param(0, "0s", id="zero"),
    pytest.param(5, "5s", id="seconds"),
    pytest.param(119, "119s", id="under-two-minutes"),
    pytest.param(200, "3m20s", id="minutes-seconds"),
    pytest.param(180, "3m", id="whole-minutes"),
    pytest.param(600, "10m", id="ten-minutes"),
    pytest.param(3 * 3600 + 5 * 60, "3h5m", id="hours-minutes"),
    pytest.param(10 * 3600, "10h", id="hours"),
    pytest.param(2 * 86400, "2d", id="two-days"),
    pytest.param(3 * 86400 + 4 * 3600, "3d4h", id="days-hours"),
    pytest.param(30 * 86400, "30d", id="month"),
    pytest.param(800 * 86400, "2y70d", id="years-days"),
    pytest.param(10 * 365 * 86400, "10y", id="years"),
])
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


def test_age_of_unset_timestamp_is_unknown() -> None:
    assert age("", NOW) == "<unknown>"
    assert age(ts(65), NOW) == "65s"


def test_rfc1123() -> None:
    assert rfc1123("2019-01-31T17:34:44Z") == "Thu, 31 Jan 2019 17:34:44 +0000"


@pytest.mark.parametrize("text,seconds", [
    pytest.param("30s", 30, id="s"), pytest.param("5m", 300, id="m"), pytest.param("1h30m", 5400, id="hm"),
    pytest.param("500ms", 0.5, id="ms"), pytest.param("45", 45, id="bare"), pytest.param("0s", 0, id="zero"),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5x", "m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# ---------------------------------------------------------------- tabwriter
def test_table_pads_three_spaces_and_leaves_last_column_alone() -> None:
    text = tabwriter.table([["NAME", "READY", "STATUS"], ["cowweb-695c65b665-sgcdk", "1/1", "Running"]])
    assert text == ("NAME                      READY   STATUS\n"
                    "cowweb-695c65b665-sgcdk   1/1     Running\n")


def test_table_minimum_width_is_six() -> None:
    assert tabwriter.table([["A", "B"], ["x", "y"]]) == "A     B\nx     y\n"


def test_describe_blocks_realign_after_a_line_without_tabs() -> None:
    text = tabwriter.format_text("Name:\tx\nStart Time:\ty\nContainers:\n  c:\n    Image:\tz\n", 0, 2)
    assert text == "Name:        x\nStart Time:  y\nContainers:\n  c:\n    Image:  z\n"


def test_row_padder_keeps_widths_for_watch_rows() -> None:
    p = tabwriter.RowPadder()
    first = p.format([["NAME", "READY"], ["sample-healthcheck", "0/1"]])
    later = p.format([["sample-healthcheck", "1/1"]])
    assert first.splitlines()[1].index("0/1") == later.index("1/1")


# ---------------------------------------------------------------- pods
def pod(phase: str = "Running", statuses: list[dict[str, Any]] | None = None, deleting: bool = False,
        containers: int = 1, init: list[dict[str, Any]] | None = None, conditions: list[dict[str, Any]] | None = None,
        reason: str = "") -> Any:
    md: dict[str, Any] = {"name": "p", "namespace": "default", "creationTimestamp": ts(30)}
    if deleting:
        md["deletionTimestamp"] = ts(1)
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": "nginx"} for i in range(containers)]}
    if init is not None:
        spec["initContainers"] = [{"name": f"i{i}", "image": "busybox"} for i in range(len(init))]
    status: dict[str, Any] = {"phase": phase, "containerStatuses": statuses or []}
    if init is not None:
        status["initContainerStatuses"] = init
    if conditions:
        status["conditions"] = conditions
    if reason:
        status["reason"] = reason
    return manifests.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": status})


RUNNING = {"name": "c0", "ready": True, "state": {"running": {"startedAt": ts(20)}}}


def waiting(reason: str, restarts: int = 0) -> dict[str, Any]:
    return {"name": "c0", "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}}


def terminated(reason: str = "", code: int = 0, signal: int = 0) -> dict[str, Any]:
    t: dict[str, Any] = {"exitCode": code, "finishedAt": ts(5)}
    if reason:
        t["reason"] = reason
    if signal:
        t["signal"] = signal
    return {"name": "c0", "ready": False, "state": {"terminated": t}}


@pytest.mark.parametrize("p,status,ready", [
    pytest.param(pod("Pending"), "Pending", "0/1", id="pending-unscheduled"),
    pytest.param(pod("Pending", [waiting("ContainerCreating")]), "ContainerCreating", "0/1", id="creating"),
    pytest.param(pod("Running", [RUNNING]), "Running", "1/1", id="running"),
    pytest.param(pod("Running", [dict(RUNNING, ready=False)]), "Running", "0/1", id="running-not-ready"),
    pytest.param(pod("Running", [RUNNING], deleting=True), "Terminating", "1/1", id="terminating"),
    pytest.param(pod("Running", [waiting("CrashLoopBackOff", 3)]), "CrashLoopBackOff", "0/1", id="crashloop"),
    pytest.param(pod("Pending", [waiting("ErrImagePull")]), "ErrImagePull", "0/1", id="errimagepull"),
    pytest.param(pod("Pending", [waiting("ImagePullBackOff")]), "ImagePullBackOff", "0/1", id="backoff"),
    pytest.param(pod("Succeeded", [terminated("Completed")]), "Completed", "0/1", id="completed"),
    pytest.param(pod("Failed", [terminated("Error", 1)]), "Error", "0/1", id="error"),
    pytest.param(pod("Running", [terminated("OOMKilled", 137)]), "OOMKilled", "0/1", id="oomkilled"),
    pytest.param(pod("Failed", [terminated(code=2)]), "ExitCode:2", "0/1", id="exit-code"),
    pytest.param(pod("Failed", [terminated(code=137, signal=9)]), "Signal:9", "0/1", id="signal"),
    pytest.param(pod("Succeeded", [terminated("Completed")], deleting=True), "Completed", "0/1",
                 id="finished-pods-are-not-terminating"),
    pytest.param(pod("Pending", [], init=[{"name": "i0", "state": {"running": {}}}]), "Init:0/1", "0/1",
                 id="init-running"),
    pytest.param(pod("Pending", [], init=[waiting("CrashLoopBackOff") | {"name": "i0"}]),
                 "Init:CrashLoopBackOff", "0/1", id="init-crashloop"),
    pytest.param(pod("Pending", [], init=[terminated("Error", 1) | {"name": "i0"}]), "Init:Error", "0/1",
                 id="init-error"),
    pytest.param(pod("Failed", reason="Evicted"), "Evicted", "0/1", id="status-reason"),
    pytest.param(pod("Running", [RUNNING, dict(RUNNING, name="c1")], containers=2), "Running", "2/2",
                 id="two-containers"),
])
def test_pod_status_column(p: Any, status: str, ready: str) -> None:
    row = printers.table_row(p, TableOptions(), NOW)
    assert row[1] == ready
    assert row[2] == status


def test_pod_restarts_sum_and_show_last_restart() -> None:
    a = dict(waiting("CrashLoopBackOff", 2), lastState={"terminated": {"exitCode": 1, "finishedAt": ts(40)}})
    b = dict(RUNNING, name="c1", restartCount=1)
    row = printers.table_row(pod("Running", [a, b], containers=2), TableOptions(), NOW)
    assert row[3] == "3 (40s ago)"
    assert printers.table_row(pod("Running", [dict(RUNNING, restartCount=2)]), TableOptions(), NOW)[3] == "2"


def test_pod_wide_columns() -> None:
    p = pod("Running", [RUNNING])
    p.status.pod_ip, p.spec.node_name = "172.18.0.6", "node-1"
    opts = TableOptions(wide=True)
    assert printers.table_headers("Pod", opts) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                                                   "NOMINATED NODE", "READINESS GATES"]
    assert printers.table_row(p, opts, NOW)[5:] == ["172.18.0.6", "node-1", "<none>", "<none>"]


def test_all_namespaces_kind_prefix_and_labels() -> None:
    p = pod("Running", [RUNNING])
    p.metadata.labels["app"] = "web"
    opts = TableOptions(all_namespaces=True, with_kind=True, show_labels=True, label_columns=("app",))
    assert printers.table_headers("Pod", opts) == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "APP",
                                                   "LABELS"]
    assert printers.table_row(p, opts, NOW) == ["default", "pod/p", "1/1", "Running", "0", "30s", "web", "app=web"]


# ---------------------------------------------------------------- other kinds
def test_deployment_and_replicaset_rows() -> None:
    spec = {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}},
                         "spec": {"containers": [{"name": "nginx", "image": "nginx:1.15"}]}}}
    d = obj("Deployment", "apps/v1", spec=spec,
            status={"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2})
    assert printers.table_row(d, TableOptions(), NOW) == ["x", "2/3", "3", "2", "30s"]
    assert printers.table_row(d, TableOptions(wide=True), NOW)[5:] == ["nginx", "nginx:1.15", "app=nginx"]
    rs = obj("ReplicaSet", "apps/v1", spec=spec, status={"replicas": 3, "readyReplicas": 1})
    assert printers.table_row(rs, TableOptions(), NOW) == ["x", "3", "3", "1", "30s"]


def test_deployment_without_replicas_means_one() -> None:
    d = obj("Deployment", "apps/v1", spec={"selector": {"matchLabels": {"a": "b"}}})
    assert printers.table_row(d, TableOptions(), NOW)[1] == "0/1"


@pytest.mark.parametrize("spec,status,ports,external", [
    pytest.param({"type": "ClusterIP", "clusterIP": "10.96.0.1", "ports": [{"port": 443, "protocol": "TCP"}]}, {},
                 "443/TCP", "<none>", id="clusterip"),
    pytest.param({"type": "NodePort", "clusterIP": "10.101.46.86",
                  "ports": [{"port": 80, "nodePort": 30000, "protocol": "TCP"}]}, {},
                 "80:30000/TCP", "<none>", id="nodeport"),
    pytest.param({"type": "LoadBalancer", "clusterIP": "10.96.229.191",
                  "ports": [{"port": 80, "nodePort": 30975}]}, {}, "80:30975/TCP", "<pending>", id="lb-pending"),
    pytest.param({"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 30975}]},
                 {"loadBalancer": {"ingress": [{"ip": "130.61.97.82"}]}}, "80:30975/TCP", "130.61.97.82",
                 id="lb-ready"),
    pytest.param({"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}, {},
                 "53/UDP,53/TCP", "<none>", id="two-ports"),
    pytest.param({"type": "ClusterIP", "externalIPs": ["1.2.3.4"], "ports": [{"port": 80}]}, {},
                 "80/TCP", "1.2.3.4", id="external-ips"),
])
def test_service_columns(spec: dict[str, Any], status: dict[str, Any], ports: str, external: str) -> None:
    row = printers.table_row(obj("Service", spec=spec, status=status), TableOptions(), NOW)
    assert row[3:5] == [external, ports]


def test_endpoints_column() -> None:
    subsets = [{"addresses": [{"ip": f"172.17.0.{i}"} for i in range(4, 8)], "ports": [{"port": 8080}]}]
    ep = obj("Endpoints", subsets=subsets)
    assert printers.format_endpoints(ep) == "172.17.0.4:8080,172.17.0.5:8080,172.17.0.6:8080 + 1 more..."
    assert printers.format_endpoints(obj("Endpoints")) == "<none>"


@pytest.mark.parametrize("ready,unschedulable,expected", [
    pytest.param("True", False, "Ready", id="ready"),
    pytest.param("False", False, "NotReady", id="not-ready"),
    pytest.param("Unknown", False, "NotReady", id="unknown"),
    pytest.param("True", True, "Ready,SchedulingDisabled", id="cordoned"),
    pytest.param(None, False, "Unknown", id="no-condition"),
])
def test_node_status(ready: str | None, unschedulable: bool, expected: str) -> None:
    status: dict[str, Any] = {"conditions": [{"type": "Ready", "status": ready}] if ready else [],
                              "nodeInfo": {"kubeletVersion": "v0.1.0"}}
    n = obj("Node", spec={"unschedulable": unschedulable}, status=status,
            metadata={"name": "node-1", "creationTimestamp": ts(60),
                      "labels": {"node-role.kubernetes.io/control-plane": ""}})
    assert printers.table_row(n, TableOptions(), NOW) == ["node-1", expected, "control-plane", "60s", "v0.1.0"]


def test_pdb_row() -> None:
    p = obj("PodDisruptionBudget", "policy/v1", spec={"minAvailable": 1, "selector": {"matchLabels": {"a": "b"}}},
            status={"disruptionsAllowed": 0})
    assert printers.table_row(p, TableOptions(), NOW) == ["x", "1", "N/A", "0", "30s"]
    q = obj("PodDisruptionBudget", "policy/v1", spec={"maxUnavailable": "25%"})
    assert printers.table_row(q, TableOptions(), NOW)[1:3] == ["N/A", "25%"]


def test_endpoints_with_no_ready_address_show_none() -> None:
    ep = obj("Endpoints", subsets=[{"notReadyAddresses": [{"ip": "10.0.0.5"}], "ports": [{"port": 80}]}])
    assert printers.table_row(ep, TableOptions(), NOW) == ["x", "<none>", "30s"]


def test_event_row() -> None:
    e = obj("Event", involvedObject={"kind": "Pod", "name": "my-first-pod"}, reason="Scheduled",
            message="Successfully assigned default/my-first-pod to minikube ", type="Normal", lastTimestamp=ts(5))
    assert printers.table_row(e, TableOptions(), NOW) == [
        "5s", "Normal", "Scheduled", "pod/my-first-pod", "Successfully assigned default/my-first-pod to minikube"]


def test_events_of_one_second_sort_as_they_happened_not_as_they_were_stored() -> None:
    """The scheduler's Scheduled can be stored after the kubelet's first events; describe still lists it first."""
    def event(reason: str, micro: str, rv: str, last: float = 5) -> Any:
        e = obj("Event", reason=reason, lastTimestamp=ts(last), eventTime=ts(5).replace("Z", f".{micro}Z"))
        e.metadata.resource_version = rv
        return e
    stored = [event("Pulling", "300000", "10"), event("Started", "900000", "11"), event("Scheduled", "100000", "12"),
              event("Created", "600000", "13"), event("BackOff", "000000", "9", last=1)]
    assert [e.reason for e in sorted(stored, key=printers.event_sort_key)] == [
        "Scheduled", "Pulling", "Created", "Started", "BackOff"]


def test_repeated_events_of_one_second_sort_by_when_they_were_last_seen() -> None:
    """A container restarted by its liveness probe: Killing, then Created again, both repeats within one second.
    Their first occurrences are long gone (Created first); their last ones decide, to the microsecond."""
    def repeat(reason: str, first: float, last_micro: str, rv: str) -> Any:
        e = obj("Event", reason=reason, count=3, lastTimestamp=ts(5), eventTime=ts(first).replace("Z", ".000000Z"),
                series={"count": 3, "lastObservedTime": ts(5).replace("Z", f".{last_micro}Z")})
        e.metadata.resource_version = rv
        return e
    stored = [repeat("Created", 60, "700000", "21"), repeat("Killing", 40, "400000", "22"),
              repeat("Started", 60, "800000", "23"), repeat("Unhealthy", 41, "300000", "20")]
    assert [e.reason for e in sorted(stored, key=printers.event_sort_key)] == [
        "Unhealthy", "Killing", "Created", "Started"]


def test_namespace_and_lease_rows() -> None:
    assert printers.table_row(obj("Namespace", metadata={"name": "handson", "creationTimestamp": ts(3)},
                                  status={"phase": "Active"}), TableOptions(), NOW) == ["handson", "Active", "3s"]
    lease = obj("Lease", "coordination.k8s.io/v1", spec={"holderIdentity": "sched-1"})
    assert printers.table_row(lease, TableOptions(), NOW) == ["x", "sched-1", "30s"]


@pytest.mark.parametrize("sel,expected", [
    pytest.param({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2", id="labels"),
    pytest.param({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]},
                                       {"key": "x", "operator": "Exists"},
                                       {"key": "y", "operator": "DoesNotExist"}]},
                 "tier in (a,b),x,!y", id="expressions"),
    pytest.param({}, "<none>", id="empty"),
])
def test_format_selector(sel: dict[str, Any], expected: str) -> None:
    d = obj("Deployment", "apps/v1", spec={"selector": sel})
    assert printers.format_selector(d.spec.selector) == expected


# ---------------------------------------------------------------- -o
@pytest.mark.parametrize("value,kind,arg", [
    pytest.param(None, "", "", id="default"),
    pytest.param("wide", "wide", "", id="wide"),
    pytest.param("yaml", "yaml", "", id="yaml"),
    pytest.param("jsonpath={.items[*].metadata.name}", "jsonpath", "{.items[*].metadata.name}", id="jsonpath"),
    pytest.param("jsonpath='{.metadata.name}'", "jsonpath", "{.metadata.name}", id="jsonpath-quoted"),
    pytest.param("custom-columns=NAME:.metadata.name", "custom-columns", "NAME:.metadata.name", id="columns"),
    pytest.param("go-template={{.metadata.name}}", "go-template", "{{.metadata.name}}", id="go-template"),
])
def test_parse_output(value: str | None, kind: str, arg: str) -> None:
    assert printers.parse_output(value) == OutputFormat(kind, arg)


def test_go_template_from_template_flag() -> None:
    assert printers.parse_output("go-template", "{{.x}}") == OutputFormat("go-template", "{{.x}}")


@pytest.mark.parametrize("value", ["foo", "yaml=x", "jsonpath"])
def test_parse_output_rejects(value: str) -> None:
    from kubectl.context import CLIError
    with pytest.raises(CLIError):
        printers.parse_output(value)


def test_render_single_object_or_list() -> None:
    a, b = pod(), pod()
    b.metadata.name = "q"
    assert printers.render([a], OutputFormat("yaml"), single=True).startswith("apiVersion: v1\nkind: Pod\n")
    listed = printers.render([a], OutputFormat("yaml"), single=False)
    assert listed.startswith("apiVersion: v1\nitems:\n") and "kind: List" in listed
    assert printers.render([a, b], OutputFormat("name"), single=False) == "pod/p\npod/q\n"
    assert printers.render([a, b], OutputFormat("jsonpath", "{.items[*].metadata.name}"), False) == "p q"


def test_yaml_round_trips_through_manifests() -> None:
    p = pod("Running", [RUNNING])
    text = printers.render([p], OutputFormat("yaml"), single=True)
    again = manifests.parse_text(text, "x")[0].obj
    assert again == p


def test_sort_by() -> None:
    a, b, c = pod(), pod(), pod()
    a.metadata.name, b.metadata.name, c.metadata.name = "b", "c", "a"
    a.metadata.creation_timestamp, b.metadata.creation_timestamp = ts(5), ts(50)
    assert [o.metadata.name for o in printers.sort_objects([a, b, c], ".metadata.name")] == ["a", "b", "c"]
    # oldest first: b (50s ago, named "c"), c (30s, "a"), a (5s, "b")
    assert [o.metadata.name for o in printers.sort_objects([a, b, c], "{.metadata.creationTimestamp}")] == \
        ["c", "a", "b"]


def _named(*names: str) -> list[Any]:
    pods = [pod() for _ in names]
    for p, name in zip(pods, names):
        p.metadata.name = name
    return pods


def _restarts(p: Any, count: int) -> Any:
    p.status.container_statuses.add(name="c0", restart_count=count)
    return p


@pytest.mark.parametrize("expr", [
    pytest.param("metadata.name", id="relaxed-without-dot"),
    pytest.param("{$.metadata.name}", id="root"),
    pytest.param("{.metadata['name']}", id="bracket-key"),
])
def test_sort_by_takes_kubectls_jsonpath(expr: str) -> None:
    assert [o.metadata.name for o in printers.sort_objects(_named("b", "c", "a"), expr)] == ["a", "b", "c"]


def test_sort_by_filter_and_missing_values_first() -> None:
    # the value of a filter expression; an object where it selects nothing sorts first, as kubectl's Less
    a, b, c = _named("a", "b", "c")
    _restarts(a, 7), _restarts(c, 2)
    got = printers.sort_objects([a, b, c], '{.status.containerStatuses[?(@.name=="c0")].restartCount}')
    assert [o.metadata.name for o in got] == ["b", "c", "a"]


def test_sort_by_a_field_no_object_has_is_refused_in_kubectls_words() -> None:
    from kubectl.context import CLIError
    with pytest.raises(CLIError, match=r'^couldn\'t find any field with path "\{\.metadata\.nope\}" in the list '
                                       r"of objects$"):
        printers.sort_objects(_named("a", "b"), ".metadata.nope")
    # a single object not printed as a table is not sorted, so not checked (kubectl's RuntimeSorter)
    assert len(printers.sort_objects(_named("a"), ".metadata.nope", table=False)) == 1


@pytest.mark.parametrize("expr", ["{.metadata.name", "{.items[}"])
def test_sort_by_a_path_that_does_not_parse_is_refused(expr: str) -> None:
    from kubectl.context import CLIError
    with pytest.raises(CLIError, match="^sorting error: "):
        printers.sort_objects(_named("a", "b"), expr)


# ---------------------------------------------------------------- terminal escapes in what is printed from objects
# An OSC sequence (set the window title; ESC ] ... BEL), a colour (CSI) and a CR that rewrites the line. kubectl's
# printers.EscapeTerminal shows ESC as ^[ and CR as \r; what is left of a sequence is inert text.
HOSTILE = "\x1b]0;pwned\x07 \x1b[31mred\x1b[0m\rhidden"
HOSTILE_SHOWN = "^[]0;pwned\x07 ^[[31mred^[[0m\\rhidden"


def _hostile_pod() -> Any:
    p = pod()
    p.metadata.annotations["note"] = HOSTILE
    p.metadata.labels["app"] = "web"
    return p


def test_escape_terminal_as_kubectl() -> None:
    from kubectl.output.terminal import escape_terminal, table_cell
    assert escape_terminal(HOSTILE) == HOSTILE_SHOWN
    assert escape_terminal("plain\ttext\n") == "plain\ttext\n"
    # a table cell is cut at its first line break (CR, LF or FF) as kubectl's table printer cuts it
    assert table_cell("\x1b[2Jfirst\nsecond") == "^[[2Jfirst..."
    assert table_cell("a\rb") == "a..."


def test_table_cells_from_objects_are_escaped() -> None:
    ev = obj("Event", involvedObject={"kind": "Pod", "name": "p"}, type="Warning",
             reason="\x1b[8mBad", message=f"{HOSTILE}\nsecond line", lastTimestamp=ts(3))
    row = printers.table_row(ev, TableOptions(), NOW)
    assert row == ["3s", "Warning", "^[[8mBad", "pod/p", "^[]0;pwned\x07 ^[[31mred^[[0m..."]
    table = printers.format_table([ev], TableOptions(wide=True), NOW)
    assert "\x1b" not in table and "\r" not in table and len(table.splitlines()) == 2


def test_custom_columns_values_are_escaped() -> None:
    text = printers.run_custom_columns("NAME:.metadata.name,NOTE:.metadata.annotations.note",
                                       [printers.to_dict(_hostile_pod())])
    assert text.splitlines()[1] == f"p      {HOSTILE_SHOWN}"


def test_describe_values_are_escaped() -> None:
    from kubectl import describe
    text = describe.describe_pod(_hostile_pod(), [], {})
    assert f"Annotations:      note: {HOSTILE_SHOWN}\n" in text
    assert "\x1b" not in text and "\r" not in text


def test_machine_formats_print_data_as_it_is() -> None:
    # kubectl escapes only what it prints for people: jsonpath and go-template give the value itself, json
    # and yaml carry it escaped in their own syntax.
    p = _hostile_pod()
    assert printers.render([p], OutputFormat("jsonpath", "{.metadata.annotations.note}"), True) == HOSTILE
    assert printers.render([p], OutputFormat("go-template", "{{.metadata.annotations.note}}"), True) == HOSTILE
    assert '"note": "\\u001b]0;pwned\\u0007' in printers.render([p], OutputFormat("json"), True)
    assert "\x1b" not in printers.render([p], OutputFormat("yaml"), True)


def test_yaml_and_json_leave_managed_fields_out_unless_asked() -> None:
    managed = [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}}]
    pod = manifests.from_dict({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "x", "labels": {"app": "x"}, "managedFields": managed}})
    assert "managedFields" not in printers.render([pod], OutputFormat("yaml"), single=True)
    shown = printers.render([pod], OutputFormat("json", managed_fields=True), single=True)
    assert '"f:app": {}' in shown and '"manager": "kubectl"' in shown
