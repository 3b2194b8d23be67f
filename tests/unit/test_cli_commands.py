"""Argument handling and the pure parts of the verbs, without a server."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubectl import apply as apply_mod
from kubectl import describe, nodes, resources, rollout
from kubectl.context import CLIError
from kubectl.delete import grace_for, parse_bool
from kubectl.main import cli
from kubectl.misc import split_pairs
from kubectl.wait import Condition, condition_met, parse_for
from kubelab import manifests
from tests.harness.fake_client import FakeClient


def run_cli(args: list[str], env: dict[str, str] | None = None, input: str | None = None) -> Any:
    return CliRunner().invoke(cli, args, env=env, input=input, catch_exceptions=False)


# ---------------------------------------------------------------- resource arguments
@pytest.mark.parametrize("args,kinds,names,single,multi", [
    pytest.param(["pods"], ["Pod"], [[]], False, False, id="plural"),
    pytest.param(["po"], ["Pod"], [[]], False, False, id="short"),
    pytest.param(["pod,service"], ["Pod", "Service"], [[], []], False, True, id="comma"),
    pytest.param(["pod", "a", "b"], ["Pod"], [["a", "b"]], False, False, id="names"),
    pytest.param(["pod", "a"], ["Pod"], [["a"]], True, False, id="one-name"),
    pytest.param(["deployments/cowweb"], ["Deployment"], [["cowweb"]], True, False, id="kind-slash-name"),
    pytest.param(["pod/a", "svc/b", "pod/c"], ["Pod", "Service"], [["a", "c"], ["b"]], False, True,
                 id="several-slash"),
    pytest.param(["deployment.apps/x"], ["Deployment"], [["x"]], True, False, id="group-qualified"),
    pytest.param(["all"], ["Pod", "Service", "Deployment", "ReplicaSet"], [[], [], [], []], False, True, id="all"),
])
def test_resource_args(args: list[str], kinds: list[str], names: list[list[str]], single: bool,
                       multi: bool) -> None:
    req = resources.parse(args)
    assert [t.info.kind for t in req.targets] == kinds
    assert [t.names for t in req.targets] == names
    assert (req.single_item, req.multi_kind) == (single, multi)


@pytest.mark.parametrize("args,message", [
    pytest.param([], "you must specify the type of resource", id="nothing"),
    pytest.param(["widgets"], 'the server doesn\'t have a resource type "widgets"', id="unknown"),
    pytest.param(["pod", "pod/x"], "there is no need to specify a resource type", id="mixed"),
    pytest.param(["pod/"], "must have a single resource and name", id="empty-name"),
])
def test_resource_args_errors(args: list[str], message: str) -> None:
    with pytest.raises(CLIError, match=message.replace("(", r"\(")):
        resources.parse(args)


@pytest.mark.parametrize("args,res,sets,removes", [
    pytest.param(("pods", "foo", "a=b"), ["pods", "foo"], {"a": "b"}, [], id="set"),
    pytest.param(("pod/foo", "a-", "b=", "c=d"), ["pod/foo"], {"b": "", "c": "d"}, ["a"], id="mixed"),
])
def test_label_pairs(args: tuple[str, ...], res: list[str], sets: dict[str, str], removes: list[str]) -> None:
    assert split_pairs(args, "label") == (res, sets, removes)


def test_label_pairs_reject_set_and_remove_of_one_key() -> None:
    with pytest.raises(CLIError):
        split_pairs(("pod", "x", "a=b", "a-"), "label")


@pytest.mark.parametrize("grace,force,now,expected", [
    pytest.param(-1, False, False, None, id="object-default"),
    pytest.param(-1, True, False, 0, id="force"),
    pytest.param(0, False, False, 1, id="zero-without-force-is-one"),
    pytest.param(0, True, False, 0, id="zero-force"),
    pytest.param(30, False, False, 30, id="explicit"),
    pytest.param(-1, False, True, 1, id="now"),
])
def test_grace_period_rules(grace: int, force: bool, now: bool, expected: int | None) -> None:
    assert grace_for(grace, force, now) == expected


def test_parse_bool() -> None:
    assert parse_bool("false", "--wait") is False and parse_bool("true", "--wait") is True
    with pytest.raises(CLIError):
        parse_bool("maybe", "--wait")


@pytest.mark.parametrize("text,cond", [
    pytest.param("delete", Condition("delete"), id="delete"),
    pytest.param("condition=Ready", Condition("condition", "Ready", "true"), id="condition"),
    pytest.param("condition=Ready=false", Condition("condition", "Ready", "false"), id="condition-value"),
    pytest.param("jsonpath={.status.phase}=Running", Condition("jsonpath", "{.status.phase}", "Running"),
                 id="jsonpath"),
])
def test_wait_for(text: str, cond: Condition) -> None:
    assert parse_for(text) == cond


@pytest.mark.parametrize("text", [
    pytest.param("jsonpath={.status.phase", id="unclosed"),
    pytest.param("jsonpath={.status.phase=Running", id="unclosed-with-value"),
    pytest.param("jsonpath={.items[}=x", id="bad-index"),
])
def test_wait_for_refuses_a_jsonpath_that_does_not_parse(text: str) -> None:
    # It used to be accepted, never met, and wait blocked until --timeout.
    with pytest.raises(CLIError, match="^error parsing jsonpath {"):
        parse_for(text)


def test_wait_condition_met() -> None:
    p = manifests.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
                             "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    assert condition_met(p, Condition("condition", "ready", "true"))
    assert not condition_met(p, Condition("condition", "Ready", "false"))
    assert not condition_met(p, Condition("condition", "Initialized", "true"))
    assert condition_met(p, Condition("jsonpath", "{.status.phase}", "Running"))


def test_a_patch_nested_too_deeply_is_refused(kubeconfig: dict[str, str]) -> None:
    r = run_cli(["patch", "deploy", "pd", "-p", '{"a": ' * 3000 + "1" + "}" * 3000], kubeconfig)
    assert (r.exit_code, r.output) == (1, "error: unable to parse the patch: nested too deeply\n")


def test_a_patch_with_a_key_given_twice_is_refused_before_anything_is_sent(kubeconfig: dict[str, str]) -> None:
    """kubectl reads -p strictly: the second "replicas" is an error, not the last one winning."""
    r = run_cli(["patch", "deploy", "pd", "-p", '{"spec": {"replicas": 1, "replicas": 5}}'], kubeconfig)
    assert r.exit_code == 1
    assert 'mapping key "replicas" already defined at line 1' in r.output


# ---------------------------------------------------------------- apply helpers
def test_container_name_from_image() -> None:
    assert apply_mod.container_name("registry.example:5000/ns/handson-001/cowweb:v1.0") == "cowweb"
    assert apply_mod.container_name("nginx@sha256:abc") == "nginx"
    assert apply_mod.container_name("my_app") == "my-app"


def test_source_file() -> None:
    assert apply_mod.source_file("app.yaml (document 2)") == "app.yaml"
    assert apply_mod.source_file("list.yaml item 3") == "list.yaml"


def _pod(ns: str = "") -> Any:
    md = {"name": "x"}
    if ns:
        md["namespace"] = ns
    return manifests.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": md,
                                "spec": {"containers": [{"name": "c", "image": "i"}]}})


def test_place_defaults_and_checks_namespace() -> None:
    p = _pod()
    apply_mod.place(p, "handson", explicit=False)
    assert p.metadata.namespace == "handson"
    q = _pod("other")
    apply_mod.place(q, "handson", explicit=False)
    assert q.metadata.namespace == "other"
    with pytest.raises(CLIError, match="does not match the namespace"):
        apply_mod.place(_pod("other"), "handson", explicit=True)
    ns = manifests.from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
    apply_mod.place(ns, "handson", explicit=True)
    assert ns.metadata.namespace == ""


def test_last_applied_annotation_is_the_manifest_without_itself() -> None:
    p = apply_mod.with_last_applied(_pod("default"))
    value = p.metadata.annotations[apply_mod.LAST_APPLIED]
    assert json.loads(value) == {"apiVersion": "v1", "kind": "Pod", "metadata": {"annotations": {}, "name": "x",
                                                                                 "namespace": "default"},
                                 "spec": {"containers": [{"image": "i", "name": "c"}]}}
    assert apply_mod.last_applied(p) == value      # stable when re-applied


def test_content_ignores_resource_version_and_empty_members() -> None:
    a = _pod("default")
    b = _pod("default")
    b.metadata.resource_version = "7"
    b.status.SetInParent()
    assert apply_mod.content(a) == apply_mod.content(b)
    b.spec.containers[0].image = "j"
    assert apply_mod.content(a) != apply_mod.content(b)


# ---------------------------------------------------------------- describe pieces
def _container(data: dict[str, Any]) -> Any:
    p = manifests.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
                             "spec": {"containers": [dict({"name": "c", "image": "i"}, **data)]}})
    return p.spec.containers[0]


def test_probe_lines_as_kubectl() -> None:
    c = _container({
        "livenessProbe": {"httpGet": {"path": "/index.html", "port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1,
                          "successThreshold": 1, "failureThreshold": 2, "initialDelaySeconds": 5, "periodSeconds": 3},
        "readinessProbe": {"exec": {"command": ["ls", "/usr/share/nginx/html/50x.html"]}, "timeoutSeconds": 1,
                           "successThreshold": 2, "failureThreshold": 1, "initialDelaySeconds": 5,
                           "periodSeconds": 3},
        "startupProbe": {"tcpSocket": {"port": "http"}}})
    assert describe.describe_probe(c.liveness_probe) == \
        "http-get http://:80/index.html delay=5s timeout=1s period=3s successThreshold=1 failureThreshold=2"
    assert describe.describe_probe(c.readiness_probe) == \
        "exec [ls /usr/share/nginx/html/50x.html] delay=5s timeout=1s period=3s successThreshold=2 failureThreshold=1"
    assert describe.describe_probe(c.startup_probe) == \
        "tcp-socket :http delay=0s timeout=1s period=10s successThreshold=1 failureThreshold=3"


def test_describe_pod_layout() -> None:
    p = manifests.from_dict({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "nginx", "namespace": "default", "labels": {"component": "nginx"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.16",
                                 "resources": {"requests": {"memory": "128Mi", "cpu": "250m"},
                                               "limits": {"memory": "128Mi", "cpu": "500m"}},
                                 "volumeMounts": [{"name": "nginx-log", "mountPath": "/var/log/nginx"}]}],
                 "volumes": [{"name": "nginx-log", "emptyDir": {}}]},
        "status": {"phase": "Running", "podIP": "172.18.0.2"}})
    text = describe.describe_pod(p, [], {})
    # no Priority, no Service Account: kubectl prints them only when the pod has them (ours has neither)
    assert text.startswith("Name:         nginx\nNamespace:    default\nNode:         <none>\n")
    assert "    Limits:\n      cpu:     500m\n      memory:  128Mi\n    Requests:\n      cpu:        250m\n" in text
    assert "      /var/log/nginx from nginx-log (rw)\n" in text
    assert "    Type:        EmptyDir (a temporary directory that shares a pod's lifetime)\n" in text
    assert text.endswith("Events:          <none>\n")


def test_describe_events_table() -> None:
    ev = manifests.from_dict({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
                              "involvedObject": {"kind": "Pod", "name": "x"}, "type": "Normal",
                              "reason": "Scheduled", "message": "Successfully assigned default/x to node-1",
                              "source": {"component": "default-scheduler"}, "count": 1})
    w = describe.Writer()
    w.write(0, "Name:\tx\n")
    describe.describe_events(w, [ev])
    lines = w.text().splitlines()
    assert lines[1] == "Events:"
    assert lines[2].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert lines[3].startswith("  ----    ------     ----")
    assert lines[4].startswith("  Normal  Scheduled  ") and lines[4].endswith(
        "default-scheduler  Successfully assigned default/x to node-1")


def test_describe_pod_names_its_service_account_and_a_containers_events_name_the_container() -> None:
    """kubectl 1.37: `Service Account:` when the pod has one; a kubelet event about one container starts with
    its involvedObject.fieldPath (kubernetes#133627)."""
    p = manifests.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "default"},
                             "spec": {"serviceAccountName": "builder", "priority": 5,
                                      "containers": [{"name": "web", "image": "nginx"}]}})
    ev = manifests.from_dict({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
                              "involvedObject": {"kind": "Pod", "name": "x", "fieldPath": "spec.containers{web}"},
                              "type": "Normal", "reason": "Started", "message": "Started container web",
                              "source": {"component": "kubelet"}, "count": 1})
    text = describe.describe_pod(p, [ev], {})
    assert "\nPriority:         5\nService Account:  builder\n" in text
    assert text.splitlines()[-1].endswith("kubelet  spec.containers{web}: Started container web")


# ---------------------------------------------------------------- rollout status
def _deploy(gen: int, observed: int, replicas: int, status: dict[str, Any],
            conditions: list[dict[str, Any]] | None = None) -> Any:
    st = dict(status, observedGeneration=observed, conditions=conditions or [])
    return manifests.from_dict({"apiVersion": "apps/v1", "kind": "Deployment",
                                "metadata": {"name": "x", "generation": gen}, "spec": {"replicas": replicas},
                                "status": st})


@pytest.mark.parametrize("d,message,done", [
    pytest.param(_deploy(2, 1, 3, {}), "Waiting for deployment spec update to be observed...", False,
                 id="not-observed"),
    pytest.param(_deploy(1, 1, 3, {"updatedReplicas": 1}),
                 'Waiting for deployment "x" rollout to finish: 1 out of 3 new replicas have been updated...', False,
                 id="updating"),
    pytest.param(_deploy(1, 1, 3, {"updatedReplicas": 3, "replicas": 4}),
                 'Waiting for deployment "x" rollout to finish: 1 old replicas are pending termination...', False,
                 id="old-pending"),
    pytest.param(_deploy(1, 1, 3, {"updatedReplicas": 3, "replicas": 3, "availableReplicas": 1}),
                 'Waiting for deployment "x" rollout to finish: 1 of 3 updated replicas are available...', False,
                 id="available"),
    pytest.param(_deploy(1, 1, 3, {"updatedReplicas": 3, "replicas": 3, "availableReplicas": 3}),
                 'deployment "x" successfully rolled out', True, id="done"),
])
def test_rollout_status_message(d: Any, message: str, done: bool) -> None:
    assert rollout.status_message(d) == (message, done)


def test_rollout_status_deadline_exceeded() -> None:
    d = _deploy(1, 1, 3, {}, [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}])
    with pytest.raises(CLIError, match='deployment "x" exceeded its progress deadline'):
        rollout.status_message(d)


# ---------------------------------------------------------------- drain plan
def _drain_pod(name: str, owner: str | None = "ReplicaSet", phase: str = "Running", empty_dir: bool = False,
               mirror: bool = False) -> Any:
    md: dict[str, Any] = {"name": name, "namespace": "default"}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner, "name": "o", "uid": "u",
                                  "controller": True}]
    if mirror:
        md["annotations"] = {nodes.MIRROR_ANNOTATION: "x"}
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    if empty_dir:
        spec["volumes"] = [{"name": "v", "emptyDir": {}}]
    return manifests.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec,
                                "status": {"phase": phase}})


def test_drain_plan_refuses_unmanaged_and_local_storage() -> None:
    pods = [_drain_pod("web"), _drain_pod("bastion", owner=None), _drain_pod("logs", empty_dir=True),
            _drain_pod("done", owner=None, phase="Succeeded"), _drain_pod("ds", owner="DaemonSet"),
            _drain_pod("static", owner=None, mirror=True)]
    plan = nodes.plan_drain(pods, force=False, ignore_daemonsets=False, delete_emptydir_data=False)
    assert [p.metadata.name for p in plan.delete] == ["done", "web"]
    assert plan.errors == {nodes.DAEMONSET_FATAL: ["default/ds"], nodes.UNMANAGED_FATAL: ["default/bastion"],
                           nodes.LOCAL_STORAGE_FATAL: ["default/logs"]}
    forced = nodes.plan_drain(pods, force=True, ignore_daemonsets=True, delete_emptydir_data=True)
    assert [p.metadata.name for p in forced.delete] == ["bastion", "done", "logs", "web"]
    assert not forced.errors
    assert forced.warnings == {nodes.DAEMONSET_WARNING: ["default/ds"], nodes.UNMANAGED_WARNING: ["default/bastion"],
                               nodes.LOCAL_STORAGE_WARNING: ["default/logs"]}


def test_drain_names_a_bare_pod_with_an_emptydir_for_its_local_storage_only() -> None:
    """kubectl 1.37 stops at the first filter that refuses a pod (seed 001's sample-volume `nginx`: no controller,
    an emptyDir); with --delete-emptydir-data the next filter still refuses it for having no controller."""
    pods = [_drain_pod("nginx", owner=None, empty_dir=True), _drain_pod("bastion", owner=None)]
    plan = nodes.plan_drain(pods, force=False, ignore_daemonsets=True, delete_emptydir_data=False)
    assert plan.errors == {nodes.LOCAL_STORAGE_FATAL: ["default/nginx"], nodes.UNMANAGED_FATAL: ["default/bastion"]}
    plan = nodes.plan_drain(pods, force=False, ignore_daemonsets=True, delete_emptydir_data=True)
    assert plan.errors == {nodes.UNMANAGED_FATAL: ["default/bastion", "default/nginx"]}
    assert plan.warnings == {nodes.LOCAL_STORAGE_WARNING: ["default/nginx"]}


# ---------------------------------------------------------------- config (no server)
@pytest.fixture
def kubeconfig(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "kubelab-local",
        "clusters": [{"name": "kubelab-local", "cluster": {"server": "127.0.0.1:1"}}],
        "users": [{"name": "kubelab-local", "user": {"token": "s3cret"}}],
        "contexts": [{"name": "kubelab-local", "context": {"cluster": "kubelab-local", "user": "kubelab-local",
                                                            "namespace": "default"}},
                     {"name": "other", "context": {"cluster": "kubelab-local", "user": "kubelab-local"}}]}))
    return {"KUBELAB_CONFIG": str(path)}


def test_config_current_and_use_context(kubeconfig: dict[str, str]) -> None:
    r = run_cli(["config", "current-context"], kubeconfig)
    assert (r.exit_code, r.output) == (0, "kubelab-local\n")
    r = run_cli(["config", "use-context", "other"], kubeconfig)
    assert r.output == 'Switched to context "other".\n'
    assert run_cli(["config", "current-context"], kubeconfig).output == "other\n"
    r = run_cli(["config", "use-context", "nope"], kubeconfig)
    assert r.exit_code == 1 and 'error: no context exists with the name: "nope"' in r.output


def test_config_set_context_namespace_seed_form(kubeconfig: dict[str, str]) -> None:
    current = run_cli(["config", "current-context"], kubeconfig).output.strip()
    r = run_cli(["config", "set-context", current, "--namespace=handson"], kubeconfig)
    assert r.output == 'Context "kubelab-local" modified.\n'
    r = run_cli(["config", "get-contexts"], kubeconfig)
    assert r.output.splitlines()[0].split() == ["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"]
    assert r.output.splitlines()[1].split() == ["*", "kubelab-local", "kubelab-local", "kubelab-local", "handson"]
    r = run_cli(["config", "set-context", "--current", "--namespace", "default"], kubeconfig)
    assert r.exit_code == 0
    assert "default" in run_cli(["config", "get-contexts", "kubelab-local"], kubeconfig).output


def test_config_view_redacts_token(kubeconfig: dict[str, str]) -> None:
    r = run_cli(["config", "view"], kubeconfig)
    assert "token: REDACTED" in r.output and "s3cret" not in r.output
    assert "token: s3cret" in run_cli(["config", "view", "--raw"], kubeconfig).output
    minified = yaml.safe_load(run_cli(["config", "view", "--minify"], kubeconfig).output)
    assert [c["name"] for c in minified["contexts"]] == ["kubelab-local"]


def test_kubeconfig_flag(tmp_path: Path, kubeconfig: dict[str, str]) -> None:
    r = run_cli(["--kubeconfig", kubeconfig["KUBELAB_CONFIG"], "config", "current-context"],
                {"KUBELAB_CONFIG": str(tmp_path / "none")})
    assert r.output == "kubelab-local\n"


def test_no_context_is_a_clear_error(tmp_path: Path) -> None:
    r = run_cli(["get", "pods"], {"KUBELAB_CONFIG": str(tmp_path / "none")})
    assert r.exit_code == 1
    assert r.output.startswith("error: current-context is not set")


# ---------------------------------------------------------------- bad input never reaches the server
@pytest.mark.parametrize("text,message", [
    pytest.param("apiVersion: v1\nkind: Pod\nmetadata: [\n", "invalid YAML", id="yaml"),
    pytest.param("apiVersion: v1\nmetadata:\n  name: x\n", "Object 'Kind' is missing", id="no-kind"),
    pytest.param("apiVersion: v1\nkind: Widget\nmetadata:\n  name: x\n", 'no matches for kind "Widget"',
                 id="unknown-kind"),
    pytest.param("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: a\n"
                 "    image: b\n    imagee: c\n", 'unknown field "spec.containers[0].imagee"', id="unknown-field"),
])
@pytest.mark.parametrize("verb", [["apply"], ["create"], ["delete"]])
def test_bad_manifest_fails_before_the_server(tmp_path: Path, kubeconfig: dict[str, str], text: str, message: str,
                                              verb: list[str]) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    r = run_cli(verb + ["-f", str(f)], kubeconfig)
    assert r.exit_code == 1
    assert r.output.startswith("error: ") and message in r.output
    assert "connection" not in r.output.lower()          # 127.0.0.1:1 was never dialled


@pytest.mark.parametrize("args,message", [
    pytest.param(["pod", "web"], "cannot scale pods", id="named"),
    pytest.param(["svc", "-l", "app=web"], "cannot scale services", id="selector"),
    pytest.param(["deploy/web", "pod/x"], "cannot scale pods", id="mixed"),
    pytest.param(["deploy/web", "--replicas=-1"], "COUNT must be greater than or equal to 0", id="negative"),
])
def test_scale_refuses_before_the_server(kubeconfig: dict[str, str], args: list[str], message: str) -> None:
    replicas = [] if any(a.startswith("--replicas") for a in args) else ["--replicas=2"]
    r = run_cli(["scale", *args, *replicas], kubeconfig)
    assert r.exit_code == 1 and r.output.startswith("error: ") and message in r.output
    assert "connection" not in r.output.lower()


@pytest.mark.parametrize("output,message", [
    pytest.param(["-o", "go-template", "--template", '{ge .items}}{{.metadata.name}}{{"\\n"}}{{end}}'],
                 'error: error parsing template {ge .items}}{{.metadata.name}}{{"\\n"}}{{end}}, '
                 "template: output:1: unexpected {{end}}", id="seed-002-typo"),
    pytest.param(["-o", "jsonpath={.items[*].metadata.name"], "error: error parsing jsonpath {.items[*].metadata.name, ",
                 id="jsonpath"),
])
def test_a_template_that_does_not_parse_fails_before_the_server(kubeconfig: dict[str, str], output: list[str],
                                                                message: str) -> None:
    r = run_cli(["get", "pods", *output], kubeconfig)
    assert r.exit_code == 1 and r.output.startswith(message), r.output
    assert "connection" not in r.output.lower()


@pytest.mark.parametrize("args,expected", [
    pytest.param(["ns", "handson"], "namespace/handson\n", id="ns"),
    pytest.param(["deploy", "web", "--image=kubelab/web"], "deployment.apps/web\n", id="deploy"),
])
def test_create_takes_kubectls_short_generator_names(kubeconfig: dict[str, str], args: list[str],
                                                     expected: str) -> None:
    r = run_cli(["create", *args, "--dry-run=client", "-o", "name"], kubeconfig)
    assert (r.exit_code, r.output) == (0, expected)


def test_boolean_flags_take_true_and_false_as_kubectl_does() -> None:
    from kubectl.main import bool_flag_values, cli
    drain = cli.get_command(None, "drain")    # type: ignore[arg-type]
    assert bool_flag_values(drain, ["n1", "--ignore-daemonsets=true", "--force=False", "--timeout=1s"]) == [
        "n1", "--ignore-daemonsets", "--timeout=1s"]
    exec_ = cli.get_command(None, "exec")     # type: ignore[arg-type]
    assert bool_flag_values(exec_, ["p", "--stdin=1", "--", "sh", "--tty=true"]) == ["p", "--stdin", "--", "sh",
                                                                                      "--tty=true"]
    rollout = cli.get_command(None, "rollout")  # type: ignore[arg-type]
    assert bool_flag_values(rollout, ["status", "deploy/x", "--watch=false"]) == [   # takes a value itself
        "status", "deploy/x", "--watch=false"]
    assert bool_flag_values(rollout, ["undo", "deploy/x", "--dry-run=client"]) == ["undo", "deploy/x",
                                                                                   "--dry-run=client"]


def test_apply_needs_a_file(kubeconfig: dict[str, str]) -> None:
    r = run_cli(["apply"], kubeconfig)
    assert r.exit_code == 1 and r.output.startswith("error: must specify one of -f")


def test_unknown_flag_and_command(kubeconfig: dict[str, str]) -> None:
    r = run_cli(["get", "pods", "--bogus"], kubeconfig)
    assert r.exit_code == 1 and r.output.startswith("error: unknown flag: --bogus")
    r = run_cli(["frobnicate"], kubeconfig)
    assert r.exit_code == 1 and 'error: unknown command "frobnicate" for "kubelab"' in r.output


def test_unreachable_server_is_one_line(kubeconfig: dict[str, str]) -> None:
    r = run_cli(["get", "pods"], kubeconfig)
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [
        "The connection to the server 127.0.0.1:1 was refused - is the lab running? "
        "(start one with `kubelab cluster up --local`)"]


def test_version_client_and_api_resources() -> None:
    r = run_cli(["version", "--client"])
    assert r.exit_code == 0 and r.output.startswith("Client Version: v")
    r = run_cli(["api-resources"])
    lines = r.output.splitlines()
    assert lines[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert any(line.split() == ["deployments", "deploy", "apps/v1", "true", "Deployment"] for line in lines)


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion(shell: str) -> None:
    r = run_cli(["completion", shell])
    assert r.exit_code == 0 and "_KUBELAB_COMPLETE" in r.output


def test_create_deployment_dry_run_yaml(kubeconfig: dict[str, str]) -> None:
    r = run_cli(["create", "deployment", "web", "--image=nginx:1.16", "--replicas=3", "--port=80",
                 "--dry-run=client", "-o", "yaml"], kubeconfig)
    assert r.exit_code == 0, r.output
    d = yaml.safe_load(r.output)
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["template"]["spec"]["containers"] == [
        {"image": "nginx:1.16", "name": "nginx", "ports": [{"containerPort": 80}], "resources": {}}]
    assert d["spec"]["selector"] == {"matchLabels": {"app": "web"}}


def test_run_dry_run_builds_a_pod(kubeconfig: dict[str, str]) -> None:
    r = run_cli(["run", "pi", "--image=perl", "--restart=OnFailure", "--env=A=1", "--dry-run=client", "-o", "json",
                 "--", "perl", "-wle", "print 1"], kubeconfig)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["kind"] == "Pod" and d["metadata"]["labels"] == {"run": "pi"}
    c = d["spec"]["containers"][0]
    assert c["args"] == ["perl", "-wle", "print 1"] and c["env"] == [{"name": "A", "value": "1"}]
    assert d["spec"]["restartPolicy"] == "OnFailure"


def test_run_with_the_old_deployment_generator_builds_a_deployment(kubeconfig: dict[str, str]) -> None:
    """Seed 002 expects `kubectl run` to make a Deployment (kubectl before 1.18); --generator asks for that."""
    r = run_cli(["run", "kubernetes-bootcamp", "--image=kubelab/hello:v1", "--port=8080",
                 "--generator=deployment/apps.v1", "--dry-run=client", "-o", "json"], kubeconfig)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["kind"] == "Deployment" and d["spec"]["replicas"] == 1
    assert d["spec"]["selector"] == {"matchLabels": {"run": "kubernetes-bootcamp"}}
    assert d["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080}]
    r = run_cli(["run", "p", "--image=x", "--generator=run-pod/v1", "--replicas=2", "--dry-run=client", "-o", "json"],
                kubeconfig)
    assert r.exit_code == 0 and json.loads(r.output)["kind"] == "Pod"
    r = run_cli(["run", "d", "--image=x", "--generator=deployment/apps.v1", "--restart=Never", "--dry-run=client"],
                kubeconfig)
    assert r.exit_code != 0 and "invalid restart policy for a Deployment: Never" in r.output


@pytest.mark.parametrize("args,message", [
    pytest.param(["get", "pods", "-l", "app in (a"], "error: invalid selector 'app in (a'", id="label"),
    pytest.param(["get", "pods", "--field-selector", "a"], "error: invalid field selector 'a'", id="field"),
    pytest.param(["delete", "pods", "-l", "!"], "error: invalid selector '!'", id="delete"),
])
def test_bad_selectors_fail_before_the_server(kubeconfig: dict[str, str], args: list[str], message: str) -> None:
    r = run_cli(args, kubeconfig)
    assert r.exit_code == 1 and r.output.startswith(message)


@pytest.mark.parametrize("args", [
    pytest.param(["label", "pod", "ok1", "y=1", "-l", "nomatch=1"], id="label"),
    pytest.param(["annotate", "pod/ok1", "z=1", "-l", "nomatch=1"], id="annotate"),
    pytest.param(["get", "pod", "p2", "-l", "nomatch=1"], id="get"),
    pytest.param(["get", "pod", "p2", "--field-selector", "status.phase=Running"], id="get-field-selector"),
    pytest.param(["describe", "pod", "p2", "-l", "a=b"], id="describe"),
    pytest.param(["delete", "pod", "p2", "-l", "a=b"], id="delete"),
    pytest.param(["delete", "pod", "p2", "--field-selector", "status.phase=Running"], id="delete-field-selector"),
    pytest.param(["wait", "pod/p2", "--for=delete", "-l", "a=b"], id="wait"),
    pytest.param(["scale", "deploy", "d", "--replicas=1", "-l", "a=b"], id="scale"),
])
def test_names_and_a_selector_are_refused_before_the_server(kubeconfig: dict[str, str], args: list[str]) -> None:
    # Before the fix, label/annotate/get acted on the named object whether it matched or not.
    r = run_cli(args, kubeconfig)
    assert r.exit_code == 1
    assert r.output == "error: name cannot be provided when a selector is specified\n"


def test_json_patch_command_sends_the_patch_for_the_server_to_apply(monkeypatch: pytest.MonkeyPatch,
                                                                   kubeconfig: dict[str, str]) -> None:
    from kubectl import context
    fake = FakeClient(manifests.from_dict({"apiVersion": "apps/v1", "kind": "Deployment",
                                           "metadata": {"name": "pd", "namespace": "default"},
                                           "spec": {"replicas": 1}}))
    monkeypatch.setattr(context.Settings, "client", lambda self: fake)
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    r = run_cli(["patch", "deploy", "pd", "--type", "json", "-p", json.dumps(ops)], kubeconfig)
    assert (r.exit_code, r.output) == (0, "deployment.apps/pd patched\n")
    # one patch, applied by the server: the operations as sent, not a merge the CLI worked out
    assert fake.actions == [("patch", "Deployment", "default/pd")]
    stored = fake.stored("Deployment", "pd")
    assert stored is not None and stored.spec.replicas == 3


# ---------------------------------------------------------------- config view -o
@pytest.mark.parametrize("args,expected", [
    pytest.param(["-o", "jsonpath={..namespace}"], "default", id="jsonpath-recursive"),
    pytest.param(["-o", "jsonpath='{.contexts[*].name}'"], "kubelab-local other", id="jsonpath-quoted"),
    pytest.param(["-o", "jsonpath={.users[0].user.token}"], "REDACTED", id="token-redacted"),
    pytest.param(["--raw", "-o", "jsonpath={.users[0].user.token}"], "s3cret", id="token-raw"),
    pytest.param(["--minify", "-o", "jsonpath={.contexts[*].name}"], "kubelab-local", id="minify"),
    pytest.param(["-o", "go-template={{range .contexts}}{{.name}};{{end}}"], "kubelab-local;other;",
                 id="go-template"),
    pytest.param(["-o", "go-template", "--template", "{{index . \"current-context\"}}"], "kubelab-local",
                 id="template-flag"),
])
def test_config_view_templates(kubeconfig: dict[str, str], args: list[str], expected: str) -> None:
    r = run_cli(["config", "view", *args], kubeconfig)
    assert (r.exit_code, r.stdout) == (0, expected)


def test_config_view_json_and_unknown_formats(kubeconfig: dict[str, str]) -> None:
    doc = json.loads(run_cli(["config", "view", "-o", "json"], kubeconfig).stdout)
    assert doc["current-context"] == "kubelab-local" and doc["users"][0]["user"]["token"] == "REDACTED"
    r = run_cli(["config", "view", "-o", "wide"], kubeconfig)
    assert r.exit_code == 1
    assert r.stderr.startswith('error: unable to match a printer suitable for the output format "wide"')


# ---------------------------------------------------------------- cluster up --local waits for its nodes
def _node(name: str, ready: str) -> Any:
    from kubelab.v1 import objects_pb2 as pb
    node = pb.Node(api_version="v1", kind="Node")
    node.metadata.name = name
    node.status.conditions.add(type="Ready", status=ready)
    return node


class NodesAppear:
    """A client whose Node list starts empty, then shows the nodes NotReady, then Ready (as a runner registers)."""
    lists = 0
    rounds = [[], [("hollow-node-0", "False")], [("hollow-node-0", "True"), ("hollow-node-1", "False")],
              [("hollow-node-0", "True"), ("hollow-node-1", "True")]]

    def __init__(self, server: str, token: str = "", retries: int = 5) -> None:
        pass

    async def list(self, kind: str) -> tuple[list[Any], str]:
        assert kind == "Node"
        rows = self.rounds[min(NodesAppear.lists, len(self.rounds) - 1)]
        NodesAppear.lists += 1
        return [_node(n, r) for n, r in rows], "1"

    async def __aenter__(self) -> "NodesAppear":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        pass


@pytest.fixture
def fake_lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """`launcher.up_local` only pretends to start processes; the client is NodesAppear."""
    from kubelab import client
    from lab import local as launcher

    async def up_local(hollow_nodes: int = 0, state_dir: Path | None = None) -> dict[str, Any]:
        return {"server": "127.0.0.1:1", "token": "t", "state_dir": str(tmp_path),
                "pids": {"apiserver": 1, "hollow-nodes": 2}}
    monkeypatch.setattr(launcher, "up_local", up_local)
    monkeypatch.setattr(launcher, "_alive", lambda pid: True)
    monkeypatch.setattr(client, "Client", NodesAppear)
    NodesAppear.lists = 0
    return tmp_path


def test_cluster_up_local_returns_once_every_hollow_node_is_ready(fake_lab: Path) -> None:
    r = run_cli(["cluster", "up", "--local", "--hollow-nodes", "2"])
    assert r.exit_code == 0, r.output
    assert NodesAppear.lists == 4                     # it listed until both were Ready
    assert r.stdout.splitlines()[0] == "2/2 nodes Ready"


def test_cluster_up_local_gives_up_after_its_timeout(fake_lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NodesAppear, "rounds", [[("hollow-node-0", "True")]])
    r = run_cli(["cluster", "up", "--local", "--hollow-nodes", "2", "--timeout", "0.5s"])
    assert r.exit_code == 1
    assert r.stderr == (f"error: only 1/2 nodes were Ready after 0.5s (see {fake_lab}/logs/hollow-nodes.log); the "
                        "lab is still running: watch `kubelab get nodes`, or stop it with `kubelab cluster down "
                        "--local`\n")


def test_cluster_up_local_stops_waiting_when_the_runner_exits(fake_lab: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from lab import local as launcher
    monkeypatch.setattr(launcher, "_alive", lambda pid: False)
    r = run_cli(["cluster", "up", "--local", "--hollow-nodes", "2"])
    assert r.exit_code == 1
    assert r.stderr == (f"error: the hollow-node runner exited with 0/2 nodes Ready "
                        f"(see {fake_lab}/logs/hollow-nodes.log)\n")


# ---------------------------------------------------------------- run -i -t --rm
@pytest.mark.parametrize("args,message", [
    pytest.param(["-t"], "-i/--stdin is required for containers with -t/--tty=true", id="tty-without-stdin"),
    pytest.param(["--rm"], "--rm should only be used for attached containers", id="rm-unattached"),
    pytest.param(["-i", "--rm", "--attach=false"], "--rm should only be used for attached containers",
                 id="rm-no-attach"),
    pytest.param(["-i", "--dry-run=client"],
                 "--dry-run can't be used with attached containers options (--attach, --stdin, or --tty)",
                 id="dry-run"),
    pytest.param(["-i", "--replicas=2"], "-i/--stdin, --attach and --rm run a pod: they cannot be used with "
                 "--replicas or a Deployment generator", id="deployment"),
    pytest.param(["-i", "--pod-running-timeout=soon"],
                 'invalid argument "soon" for "--pod-running-timeout" flag: invalid duration "soon"', id="timeout"),
])
def test_run_attach_flags_are_checked_before_the_server(kubeconfig: dict[str, str], args: list[str],
                                                        message: str) -> None:
    r = run_cli(["run", "x", "--image=kubelab/busybox", *args], kubeconfig)
    assert (r.exit_code, r.output) == (1, f"error: {message}\n")


def test_run_stdin_and_tty_set_the_containers_fields(kubeconfig: dict[str, str]) -> None:
    r = run_cli(["run", "x", "--image=kubelab/busybox", "-i", "-t", "--attach=false", "--dry-run=client",
                 "-o", "json", "--", "sh"], kubeconfig)
    assert r.exit_code == 0, r.output
    [c] = json.loads(r.stdout)["spec"]["containers"]
    assert (c.get("stdin"), c.get("stdinOnce", False), c.get("tty")) == (True, False, True)


# ---------------------------------------------------------------- expose's selector
@pytest.mark.parametrize("doc,selector", [
    pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"selector": {"matchLabels": {"app": "web"}}}}, {"app": "web"}, id="deployment"),
    pytest.param({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                  "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}, {"app": "web"}, id="service"),
    pytest.param({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"run": "p"}},
                  "spec": {"containers": [{"name": "c", "image": "i"}]}}, {"run": "p"}, id="pod-labels"),
    pytest.param({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"},
                  "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a"]}]}}},
                 'couldn\'t convert expressions - "app in (a)" to map', id="expressions"),
    pytest.param({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                  "spec": {"ports": [{"port": 80}]}}, "the service has no pod selector set", id="no-selector"),
])
def test_expose_selector_is_a_label_map(doc: dict[str, Any], selector: dict[str, str] | str) -> None:
    from kubectl.workloads import _selector_of
    obj = manifests.from_dict(doc)
    if isinstance(selector, dict):
        assert _selector_of(obj) == selector
    else:
        with pytest.raises(CLIError, match=re.escape(selector)):
            _selector_of(obj)


def test_describe_service_ends_with_both_traffic_policies() -> None:
    """As kubectl 1.37 prints a NodePort Service the server defaulted (seed 003's `expose --type=NodePort`)."""
    svc = manifests.from_dict({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"},
                               "spec": {"type": "NodePort", "ports": [{"port": 8080, "nodePort": 30155}],
                                        "sessionAffinity": "None", "externalTrafficPolicy": "Cluster",
                                        "internalTrafficPolicy": "Cluster"}})
    lines = describe.describe_service(svc, None, {}).splitlines()
    assert lines[-3:] == ["Session Affinity:         None", "External Traffic Policy:  Cluster",
                          "Internal Traffic Policy:  Cluster"]
