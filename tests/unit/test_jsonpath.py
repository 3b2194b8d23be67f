"""Unit tests for kubectl.output: kubectl JSONPath, custom-columns and the
Go-template subset with Go's fmt, including malformed-template errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubectl.output.custom_columns import custom_columns
from kubectl.output.gofmt import go_sprint, go_sprintf
from kubectl.output.gotemplate import TemplateError, go_template
from kubectl.output.jsonpath import JSONPathError, jsonpath, jsonpath_values, relaxed_jsonpath

POD_A: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-1",
        "namespace": "default",
        "labels": {"app": "web", "kubernetes.io/hostname": "node-a"},
    },
    "spec": {
        "nodeName": "node-a",
        "containers": [
            {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
            {"name": "sidecar", "image": "busybox"},
        ],
    },
    "status": {
        "phase": "Running",
        "podIP": "10.0.0.5",
        "conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "True"},
        ],
        "containerStatuses": [{"name": "nginx", "restartCount": 3, "ready": True}],
    },
}
POD_B: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "db-0", "namespace": "default", "deletionTimestamp": None},
    "spec": {"containers": [{"name": "pg", "image": "postgres:16"}]},
    "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]},
}
PODS: dict[str, Any] = {"apiVersion": "v1", "kind": "List", "items": [POD_A, POD_B]}


# ==========================================================================
# JSONPath
# ==========================================================================


@pytest.mark.parametrize(
    "template, expected",
    [
        pytest.param("{.metadata.name}", "web-1", id="field"),
        pytest.param("{$.metadata.name}", "web-1", id="dollar-root"),
        pytest.param("{@.metadata.name}", "web-1", id="at-current"),
        pytest.param("{.metadata.labels.app}", "web", id="label"),
        pytest.param(r"{.metadata.labels.kubernetes\.io/hostname}", "node-a", id="escaped-dot"),
        pytest.param("{.metadata.labels['kubernetes.io/hostname']}", "node-a", id="bracket-key"),
        pytest.param('{.metadata["name"]}', "web-1", id="bracket-double-quoted"),
        pytest.param("{.spec.containers[0].image}", "nginx:1.25", id="index"),
        pytest.param("{.spec.containers[-1].name}", "sidecar", id="negative-index"),
        pytest.param("{.spec.containers[*].image}", "nginx:1.25 busybox", id="wildcard-joined-by-space"),
        pytest.param("{.spec.containers[0:1].name}", "nginx", id="slice"),
        pytest.param("{.spec.containers[:].name}", "nginx sidecar", id="full-slice"),
        pytest.param("{.spec.containers[::-1].name}", "sidecar nginx", id="slice-step"),
        pytest.param("{.spec.containers[1,0].name}", "sidecar nginx", id="index-union"),
        pytest.param("{.metadata['name','namespace']}", "web-1 default", id="key-union"),
        pytest.param("{.spec.containers[5].name}", "", id="index-out-of-range-prints-nothing"),
        pytest.param('{.status.conditions[?(@.type=="Ready")].status}', "True", id="filter"),
        pytest.param("{.status.conditions[?(@.type!='Ready')].type}", "Initialized", id="filter-not-equal"),
        pytest.param("{.status.containerStatuses[?(@.restartCount>2)].name}", "nginx", id="filter-number"),
        pytest.param("{.status.containerStatuses[?(@.restartCount<=2)].name}", "", id="filter-number-no"),
        pytest.param("{.status.containerStatuses[?(@.ready==true)].name}", "nginx", id="filter-bool"),
        pytest.param("{.spec.containers[?(@.ports)].name}", "nginx", id="filter-exists"),
        pytest.param(
            '{.status.conditions[?(@.type=="Ready" && @.status=="True")].type}', "Ready", id="filter-and"
        ),
        pytest.param(
            '{.status.conditions[?(@.type=="X" || @.type=="Initialized")].type}', "Initialized", id="filter-or"
        ),
        pytest.param('{.status.conditions[?(@.type == "Ready")].status}', "True", id="filter-whitespace"),
        pytest.param("{..image}", "nginx:1.25 busybox", id="recursive-descent"),
        pytest.param("{.spec..containerPort}", "80", id="recursive-from-field"),
        pytest.param("{.metadata.labels.*}", "web node-a", id="map-wildcard"),
        pytest.param("{.missing}", "", id="missing-prints-nothing"),
        pytest.param("{.metadata.missing.deeper}", "", id="missing-chain"),
        pytest.param("{.spec.containers.name}", "", id="field-of-list-is-missing"),
        pytest.param("name={.metadata.name}!", "name=web-1!", id="literal-text"),
        pytest.param("no braces at all", "no braces at all", id="only-text"),
        pytest.param('{.metadata.name}{"\\n"}', "web-1\n", id="string-literal-newline"),
        pytest.param("{'\\t'}", "\t", id="single-quoted-literal"),
        pytest.param("{.kind} {.apiVersion}", "Pod v1", id="two-expressions"),
        pytest.param("{ .metadata.name }", "web-1", id="spaces-in-action"),
        pytest.param("{.status.containerStatuses[0].restartCount}", "3", id="int"),
        pytest.param("{.status.containerStatuses[0].ready}", "true", id="bool"),
        pytest.param(
            "{.spec.containers[0].ports}", '[{"containerPort":80}]', id="list-prints-as-json"
        ),
        pytest.param(
            "{.metadata.labels}", '{"app":"web","kubernetes.io/hostname":"node-a"}', id="map-prints-as-sorted-json"
        ),
        pytest.param(
            "{range .spec.containers[0].ports[*]}{.}{end}", '{"containerPort":80}', id="dot-is-current"
        ),
        pytest.param("{range .spec.containers[*]}{@.name};{end}", "nginx;sidecar;", id="at-in-range"),
    ],
)
def test_jsonpath_single_object(template: str, expected: str) -> None:
    assert jsonpath(template, POD_A) == expected


@pytest.mark.parametrize(
    "template, expected",
    [
        pytest.param("{.items[*].metadata.name}", "web-1 db-0", id="names"),
        pytest.param("{.items[0].spec.containers[*].image}", "nginx:1.25 busybox", id="first-item-images"),
        pytest.param(
            '{range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}',
            "web-1\tRunning\ndb-0\tPending\n",
            id="range-tutorial",
        ),
        pytest.param(
            '{range .items[*]}[{.metadata.name}:{range .spec.containers[*]}{.name},{end}]{end}',
            "[web-1:nginx,sidecar,][db-0:pg,]",
            id="nested-range",
        ),
        pytest.param("{range .items}{.metadata.name}{end}", "", id="range-over-list-value-as-kubectl"),
        pytest.param("{range .nothing[*]}x{end}done", "done", id="range-over-missing"),
        pytest.param(
            '{range .items[?(@.status.phase=="Running")]}{.metadata.name}{end}', "web-1", id="range-over-filter"
        ),
        pytest.param(
            '{.items[?(@.metadata.name=="db-0")].spec.containers[0].image}', "postgres:16", id="filter-items"
        ),
        pytest.param("{.items[*].metadata.deletionTimestamp}", "", id="null-prints-nothing"),
        pytest.param("{range .items[*]}{$.kind} {end}", "List List ", id="dollar-is-document-root"),
        pytest.param("{.items[1].metadata.labels.app}", "", id="missing-labels"),
        pytest.param('{.items[?(@.spec.nodeName==$.items[0].spec.nodeName)].metadata.name}', "web-1", id="filter-vs-root"),
    ],
)
def test_jsonpath_list(template: str, expected: str) -> None:
    assert jsonpath(template, PODS) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param({"v": 1.5}, "1.5", id="float"),
        pytest.param({"v": 2.0}, "2", id="integral-float"),
        pytest.param({"v": 1e6}, "1e+06", id="float-exponent-like-go"),
        pytest.param({"v": [1.0, 1e-7, 1e21]}, "[1,1e-7,1e+21]", id="json-floats-like-go"),
        pytest.param({"v": "<a&b>"}, "<a&b>", id="string-raw"),
        pytest.param({"v": ["<a&b>"]}, '["\\u003ca\\u0026b\\u003e"]', id="json-html-escaped"),
        pytest.param({"v": {"b": None, "a": "é"}}, '{"a":"é","b":null}', id="json-null-and-unicode"),
        pytest.param({"v": False}, "false", id="false"),
    ],
)
def test_jsonpath_value_printing(value: dict[str, Any], expected: str) -> None:
    assert jsonpath("{.v}", value) == expected


@pytest.mark.parametrize(
    "template, message",
    [
        pytest.param("{.metadata.name", "unclosed action (missing '}')", id="unclosed-brace"),
        pytest.param("{}", "empty action", id="empty-action"),
        pytest.param("{metadata.name}", "expected a path starting with '.', '[', '$' or '@'", id="no-leading-dot"),
        pytest.param("{.a[1-]}", "invalid array index '1-'", id="bad-index"),
        pytest.param("{.a[0}", "unclosed '['", id="unclosed-bracket"),
        pytest.param("{.a[]}", "empty '[]'", id="empty-brackets"),
        pytest.param("{.a[x]}", "invalid array index 'x'", id="word-index"),
        pytest.param("{.a[::0]}", "step cannot be 0", id="zero-step"),
        pytest.param("{.a[1:2:3:4]}", "invalid array slice", id="too-many-colons"),
        pytest.param("{.a[?(@.x=1)]}", "use '==' to compare", id="single-equals"),
        pytest.param("{.a[?(@.x==)]}", "expected a filter operand", id="missing-operand"),
        pytest.param("{.a[?@.x]}", "expected '('", id="filter-without-paren"),
        pytest.param("{.a[?(@.x]}", "expected ')'", id="filter-unclosed"),
        pytest.param("{range .items[*]}{.x}", "{range} is missing its {end}", id="range-without-end"),
        pytest.param("{end}", "{end} without a matching {range}", id="end-without-range"),
        pytest.param('{"abc}', "unterminated quoted string", id="unterminated-string"),
        pytest.param('{"\\q"}', "unknown escape sequence", id="bad-escape"),
        pytest.param("{.a .b}", "unexpected '.' in action", id="two-paths-in-one-action"),
        pytest.param("{.a..}", "expected a field name after '..'", id="dangling-recursive"),
        pytest.param("{range}", "expected a path", id="range-without-path"),
    ],
)
def test_jsonpath_errors(template: str, message: str) -> None:
    with pytest.raises(JSONPathError) as exc:
        jsonpath(template, POD_A)
    assert message in str(exc.value)
    assert repr(template) in str(exc.value)
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize(
    "template, expected",
    [
        pytest.param("{.items[*].metadata.name}", ["web-1", "db-0"], id="template"),
        pytest.param("{range .items[*]}{.metadata.name}{'\\n'}{end}", ["web-1", "db-0"], id="range"),
        pytest.param("{.items[0].spec.containers[0].ports}", [[{"containerPort": 80}]], id="raw-values"),
        pytest.param("{.nope}", [], id="missing"),
    ],
)
def test_jsonpath_values(template: str, expected: list[Any]) -> None:
    assert jsonpath_values(template, PODS) == expected


def test_jsonpath_does_not_mutate_input() -> None:
    before = copy.deepcopy(PODS)
    jsonpath("{range .items[*]}{..image}{end}", PODS)
    go_template("{{range .items}}{{index .metadata \"x\"}}{{end}}", PODS)
    assert PODS == before


# ==========================================================================
# custom-columns
# ==========================================================================


@pytest.mark.parametrize(
    "expr, relaxed",
    [
        pytest.param(".metadata.name", "{.metadata.name}", id="dot"),
        pytest.param("metadata.name", "{.metadata.name}", id="no-dot"),
        pytest.param("{metadata.name}", "{.metadata.name}", id="braces-no-dot"),
        pytest.param("{.metadata.name}", "{.metadata.name}", id="braces"),
        pytest.param("$.metadata.name", "{$.metadata.name}", id="dollar"),
    ],
)
def test_relaxed_jsonpath(expr: str, relaxed: str) -> None:
    assert relaxed_jsonpath(expr) == relaxed


def test_relaxed_jsonpath_rejects_nested_braces() -> None:
    with pytest.raises(JSONPathError, match="unexpected path string"):
        relaxed_jsonpath("{.a}{.b}")


@pytest.mark.parametrize(
    "spec, headers, rows",
    [
        pytest.param(
            "NAME:.metadata.name,IMAGE:.spec.containers[*].image,PHASE:.status.phase",
            ["NAME", "IMAGE", "PHASE"],
            [["web-1", "nginx:1.25,busybox", "Running"], ["db-0", "postgres:16", "Pending"]],
            id="tutorial",
        ),
        pytest.param(
            "APP:.metadata.labels.app", ["APP"], [["web"], ["<none>"]], id="missing-is-none"
        ),
        pytest.param(
            "NAME:metadata.name,NODE:{.spec.nodeName}", ["NAME", "NODE"],
            [["web-1", "node-a"], ["db-0", "<none>"]], id="relaxed-paths",
        ),
        pytest.param(
            "PORTS:.spec.containers[0].ports", ["PORTS"],
            [["[map[containerPort:80]]"], ["<none>"]], id="go-formatting-of-composites",
        ),
        pytest.param(
            "FIRST:.spec.containers[0,1].name", ["FIRST"],
            [["nginx,sidecar"], ["pg"]], id="comma-inside-brackets",
        ),
        pytest.param(
            'READY:.status.conditions[?(@.type=="Ready")].status', ["READY"],
            [["True"], ["False"]], id="filter",
        ),
        pytest.param(
            "RESTARTS:.status.containerStatuses[0].restartCount", ["RESTARTS"],
            [["3"], ["<none>"]], id="number",
        ),
    ],
)
def test_custom_columns(spec: str, headers: list[str], rows: list[list[str]]) -> None:
    assert custom_columns(spec, [POD_A, POD_B]) == (headers, rows)


@pytest.mark.parametrize(
    "spec, message",
    [
        pytest.param("", "no custom columns given", id="empty"),
        pytest.param("NAME", "expected <header>:<json-path-expr>", id="no-colon"),
        pytest.param("NAME:", "expected <header>:<json-path-expr>", id="no-path"),
        pytest.param(":.metadata.name", "expected <header>:<json-path-expr>", id="no-header"),
        pytest.param("NAME:.metadata.name,", "expected <header>:<json-path-expr>", id="trailing-comma"),
        pytest.param("X:.a[", "unclosed '['", id="bad-path"),
        pytest.param("X:{.a}{.b}", "unexpected path string", id="two-expressions"),
    ],
)
def test_custom_columns_errors(spec: str, message: str) -> None:
    with pytest.raises(JSONPathError, match=message.replace("[", r"\[")):
        custom_columns(spec, [POD_A])


def test_custom_columns_no_objects() -> None:
    assert custom_columns("NAME:.metadata.name", []) == (["NAME"], [])


# ==========================================================================
# Go templates
# ==========================================================================

DATA: dict[str, Any] = {
    "name": "web",
    "count": 3,
    "ratio": 0.25,
    "big": 1e6,
    "empty": "",
    "zero": 0,
    "none": None,
    "yes": True,
    "no": False,
    "list": ["a", "b", "c"],
    "nums": [3, 1, 2],
    "map": {"b": 2, "a": 1},
    "nested": {"inner": {"value": "deep"}},
    "labels": {"app.kubernetes.io/name": "web", "tier": "fe"},
    "secret": "aGVsbG8=",
}


@pytest.mark.parametrize(
    "template, expected",
    [
        # fields and printing
        pytest.param("{{.name}}", "web", id="field"),
        pytest.param("{{ .name }}", "web", id="spaces"),
        pytest.param("{{.nested.inner.value}}", "deep", id="field-chain"),
        pytest.param("{{.missing}}", "<no value>", id="missing-key"),
        pytest.param("{{.missing.deeper}}", "<no value>", id="missing-chain"),
        pytest.param("{{.none}}", "<no value>", id="null"),
        pytest.param("{{.count}}", "3", id="int"),
        pytest.param("{{.ratio}}", "0.25", id="float"),
        pytest.param("{{.big}}", "1e+06", id="float-go-exponent"),
        pytest.param("{{.yes}} {{.no}}", "true false", id="bools"),
        pytest.param("{{.list}}", "[a b c]", id="list"),
        pytest.param("{{.map}}", "map[a:1 b:2]", id="map-sorted"),
        pytest.param("{{.nested}}", "map[inner:map[value:deep]]", id="nested-map"),
        pytest.param("{{with .map}}{{.}}{{end}}", "map[a:1 b:2]", id="dot"),
        pytest.param("a{{/* comment */}}b", "ab", id="comment"),
        pytest.param('{{"\\n"}}', "\n", id="string-literal"),
        pytest.param("{{`raw\\n`}}", "raw\\n", id="raw-string"),
        pytest.param("{{'a'}}", "97", id="char-literal"),
        pytest.param("{{42}} {{-1}} {{1.5}} {{0x10}}", "42 -1 1.5 16", id="numbers"),
        pytest.param("{{true}}", "true", id="bool-literal"),
        # trimming
        pytest.param("a  {{- .name -}}  b", "awebb", id="trim-both"),
        pytest.param("a\n  {{- .name}}\n", "aweb\n", id="trim-left-newlines"),
        pytest.param("{{.name -}}\n\n  x", "webx", id="trim-right"),
        pytest.param("a {{- /* c */ -}} b", "ab", id="trim-comment"),
        # range
        pytest.param("{{range .list}}{{.}},{{end}}", "a,b,c,", id="range"),
        pytest.param("{{range $i, $v := .list}}{{$i}}={{$v}} {{end}}", "0=a 1=b 2=c ", id="range-index-value"),
        pytest.param("{{range $v := .list}}{{$v}}{{end}}", "abc", id="range-one-var"),
        pytest.param("{{range $k, $v := .map}}{{$k}}:{{$v}};{{end}}", "a:1;b:2;", id="range-map-sorted"),
        pytest.param("{{range .missing}}x{{else}}none{{end}}", "none", id="range-else-missing"),
        pytest.param("{{range .empty_list}}x{{else}}none{{end}}", "none", id="range-else"),
        pytest.param("{{range 3}}{{.}}{{end}}", "012", id="range-int"),
        pytest.param(
            "{{range $i, $c := .list}}{{if eq $c \"b\"}}{{break}}{{end}}{{$c}}{{end}}", "a", id="break"
        ),
        pytest.param(
            "{{range .list}}{{if eq . \"b\"}}{{continue}}{{end}}{{.}}{{end}}", "ac", id="continue"
        ),
        pytest.param("{{range .list}}{{$.name}}{{end}}", "webwebweb", id="dollar-root-in-range"),
        # if / with
        pytest.param("{{if .yes}}Y{{end}}", "Y", id="if"),
        pytest.param("{{if .no}}Y{{else}}N{{end}}", "N", id="if-else"),
        pytest.param("{{if .missing}}Y{{else}}N{{end}}", "N", id="if-missing"),
        pytest.param("{{if .empty}}Y{{else}}N{{end}}", "N", id="if-empty-string"),
        pytest.param("{{if .zero}}Y{{else}}N{{end}}", "N", id="if-zero"),
        pytest.param("{{if .list}}Y{{end}}", "Y", id="if-list"),
        pytest.param(
            '{{if eq .name "db"}}db{{else if eq .name "web"}}web!{{else}}?{{end}}', "web!", id="else-if"
        ),
        pytest.param(
            '{{if .no}}1{{else if .zero}}2{{else if .yes}}3{{end}}', "3", id="else-if-chain"
        ),
        pytest.param("{{with .nested.inner}}{{.value}}{{end}}", "deep", id="with"),
        pytest.param("{{with .missing}}x{{else}}empty{{end}}", "empty", id="with-else"),
        # variables
        pytest.param("{{$x := .name}}{{$x}}-{{$x}}", "web-web", id="variable"),
        pytest.param("{{$x := 1}}{{$x = 2}}{{$x}}", "2", id="assign"),
        pytest.param("{{$n := .nested}}{{$n.inner.value}}", "deep", id="variable-fields"),
        pytest.param("{{$.name}}", "web", id="dollar"),
        pytest.param(
            "{{$x := 0}}{{range .list}}{{$x = .}}{{end}}{{$x}}", "c", id="assign-outer-var-in-range"
        ),
        # functions
        pytest.param('{{index .labels "app.kubernetes.io/name"}}', "web", id="index-map"),
        pytest.param('{{index .labels "nope"}}', "<no value>", id="index-missing-key"),
        pytest.param("{{index .list 1}}", "b", id="index-list"),
        pytest.param("{{index .map}}", "map[a:1 b:2]", id="index-no-keys"),
        pytest.param("{{slice .list 1 2}}", "[b]", id="slice"),
        pytest.param("{{len .list}} {{len .map}} {{len .name}}", "3 2 3", id="len"),
        pytest.param("{{.list | len}}", "3", id="pipe"),
        pytest.param('{{.name | printf "%s!"}}', "web!", id="pipe-final-arg"),
        pytest.param('{{printf "%s has %d" .name .count}}', "web has 3", id="printf"),
        pytest.param('{{printf "%s\\n" .name}}', "web\n", id="printf-newline"),
        pytest.param('{{printf "%5.2f|%-4s|%04d|%x|%q|%v|%t" .ratio "ab" 7 255 "q" .list .yes}}',
                     " 0.25|ab  |0007|ff|\"q\"|[a b c]|true", id="printf-verbs"),
        pytest.param('{{print "a" "b" 1 2 "c"}}', "ab1 2c", id="print-spacing"),
        pytest.param('{{println "a" 1}}', "a 1\n", id="println"),
        pytest.param("{{not .yes}} {{not .missing}}", "false true", id="not"),
        pytest.param("{{and .yes .name}} {{and .zero .name}}", "web 0", id="and"),
        pytest.param("{{or .empty .name}} {{or .zero .no}}", "web false", id="or"),
        pytest.param("{{and .no .missing.x.y}}", "false", id="and-short-circuits"),
        pytest.param('{{eq .name "web"}} {{eq .count 1 2 3}} {{ne .count 3}}', "true true false", id="eq-ne"),
        pytest.param("{{eq .missing .none}} {{eq .missing \"x\"}}", "true false", id="eq-missing"),
        pytest.param("{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge 3 2}} {{lt \"a\" \"b\"}}", "true true false true true", id="ordering"),
        pytest.param("{{lt .ratio 1}}", "true", id="int-float-compare"),
        pytest.param("{{base64decode .secret}}", "hello", id="base64decode"),
        pytest.param("{{.secret | base64decode}}", "hello", id="base64decode-pipe"),
        pytest.param("{{(index .list 0)}}", "a", id="parenthesized"),
        pytest.param("{{len (slice .list 1)}}", "2", id="nested-call"),
    ],
)
def test_go_template(template: str, expected: str) -> None:
    assert go_template(template, DATA) == expected


@pytest.mark.parametrize(
    "template, expected",
    [
        pytest.param('{{range .items}}{{.metadata.name}}{{"\\n"}}{{end}}', "web-1\ndb-0\n", id="tutorial"),
        pytest.param("{{(index .items 0).metadata.name}}", "web-1", id="index-then-field"),
        pytest.param("{{len .items}}", "2", id="len-items"),
        pytest.param(
            "{{range .items}}{{.metadata.name}}:{{range $i, $c := .spec.containers}}"
            "{{if $i}},{{end}}{{$c.image}}{{end}}\n{{end}}",
            "web-1:nginx:1.25,busybox\ndb-0:postgres:16\n",
            id="nested-range",
        ),
        pytest.param(
            '{{range .items}}{{range .status.conditions}}{{if eq .type "Ready"}}{{.status}} {{end}}{{end}}{{end}}',
            "True False ",
            id="conditions",
        ),
        pytest.param(
            "{{- range .items }}\n{{ .metadata.name }}\n{{- end }}", "\nweb-1\ndb-0", id="trim-markers",
        ),
        pytest.param(
            '{{index .items 0 "metadata" "labels" "kubernetes.io/hostname"}}', "node-a", id="index-multiple",
        ),
        pytest.param(
            "{{range .items}}{{.metadata.deletionTimestamp}} {{end}}", "<no value> <no value> ", id="null-and-missing",
        ),
        pytest.param(
            '{{range .items}}{{printf "%-8s%s\\n" .metadata.name .status.phase}}{{end}}',
            "web-1   Running\ndb-0    Pending\n",
            id="printf-table",
        ),
        pytest.param("{{with $p := index .items 1}}{{$p.metadata.name}}{{end}}", "db-0", id="with-variable"),
    ],
)
def test_go_template_kubectl_examples(template: str, expected: str) -> None:
    assert go_template(template, PODS) == expected


@pytest.mark.parametrize(
    "template, message",
    [
        # parse errors
        pytest.param("{{.name", "unclosed action", id="unclosed-action"),
        pytest.param("{{}}", "missing value for command", id="empty-action"),
        pytest.param("{{if .x}}", "unexpected EOF: {{if}} has no {{end}}", id="if-without-end"),
        pytest.param("{{range .x}}{{if .y}}{{end}}", "{{range}} has no {{end}}", id="range-without-end"),
        pytest.param("{{end}}", "unexpected {{end}}", id="end-without-block"),
        pytest.param("{{else}}", "unexpected {{else}}", id="else-without-if"),
        pytest.param("{{if .a}}{{else}}{{else}}{{end}}", "unexpected {{else}}", id="double-else"),
        pytest.param("{{if}}{{end}}", "missing value for if", id="if-without-pipeline"),
        pytest.param("{{nosuch .x}}", 'function "nosuch" not defined', id="unknown-function"),
        pytest.param('{{"abc}}', "unterminated quoted string", id="unterminated-string"),
        pytest.param("{{`abc}}", "unterminated raw quoted string", id="unterminated-raw-string"),
        pytest.param("{{(index .x 0}}", "unclosed left paren", id="unclosed-paren"),
        pytest.param("{{.x)}}", "unexpected right paren", id="stray-right-paren"),
        pytest.param("{{.a @}}", "unexpected '@' in command", id="bad-character"),
        pytest.param("{{3x}}", "bad number syntax", id="bad-number"),
        pytest.param("{{break}}", "{{break}} outside {{range}}", id="break-outside-range"),
        pytest.param("{{template \"x\"}}", "{{template}} is not supported", id="template-unsupported"),
        pytest.param("{{define \"x\"}}{{end}}", "{{define}} is not supported", id="define-unsupported"),
        pytest.param("{{$a, $b := .list}}", "too many declarations", id="two-vars-outside-range"),
        pytest.param("{{/* unclosed", "unclosed comment", id="unclosed-comment"),
        pytest.param("{{end .x}}", "unexpected tokens after {{end}}", id="end-with-args"),
        pytest.param("{{.a|}}", "missing value for command", id="empty-pipe-stage"),
        pytest.param("{{\"a\".b}}", "unexpected .b", id="field-on-literal"),
        # execution errors
        pytest.param("{{$nope}}", "undefined variable: $nope", id="undefined-variable"),
        pytest.param("{{$nope = 1}}", "undefined variable: $nope", id="assign-undefined"),
        pytest.param("{{.name.first}}", "can't evaluate field first in type string", id="field-on-string"),
        pytest.param("{{.none.x}}", "nil pointer evaluating interface {}.x", id="field-on-null"),
        pytest.param("{{.name 1}}", "can't give argument to non-function", id="args-to-field"),
        pytest.param("{{1 | .name}}", "can't give argument to non-function", id="pipe-into-field"),
        pytest.param("{{nil}}", "nil is not a command", id="nil-command"),
        pytest.param("{{index .list 5}}", "error calling index: index out of range: 5", id="index-out-of-range"),
        pytest.param('{{index .list "a"}}', "cannot index slice/array with type string", id="index-list-with-string"),
        pytest.param("{{index .missing 0}}", "index of untyped nil", id="index-missing"),
        pytest.param("{{index .count 0}}", "can't index item of type int64", id="index-int"),
        pytest.param("{{len .count}}", "error calling len: len of type int64", id="len-int"),
        pytest.param("{{len .missing}}", "len of nil pointer", id="len-missing"),
        pytest.param("{{len}}", "wrong number of args: want 1 got 0", id="len-no-args"),
        pytest.param('{{eq .name 1}}', "incompatible types for comparison", id="eq-incompatible"),
        pytest.param("{{eq .list .list}}", "non-comparable type", id="eq-lists"),
        pytest.param("{{eq .name}}", "missing argument for comparison", id="eq-one-arg"),
        pytest.param("{{lt .list 1}}", "non-comparable type", id="lt-list"),
        pytest.param('{{lt "a" 1}}', "incompatible types for comparison", id="lt-incompatible"),
        pytest.param("{{range .name}}{{end}}", "range can't iterate over web", id="range-string"),
        pytest.param("{{base64decode \"!!\"}}", "base64decode", id="bad-base64"),
        pytest.param("{{printf}}", "printf needs a format string", id="printf-no-format"),
        pytest.param("{{and}}", "wrong number of args", id="and-no-args"),
    ],
)
def test_go_template_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as exc:
        go_template(template, DATA)
    assert message in str(exc.value)
    assert str(exc.value).startswith("template: output:")
    assert isinstance(exc.value, ValueError)


def test_go_template_error_reports_line() -> None:
    with pytest.raises(TemplateError, match="output:3:"):
        go_template("a\nb\n{{.x y}}", {})


@pytest.mark.parametrize(
    "fmt, args, expected",
    [
        pytest.param("%d", [5], "5", id="int"),
        pytest.param("%+d|% d", [5, 5], "+5| 5", id="sign-flags"),
        pytest.param("%6.2f|%-6.1f|", [3.14159, 2.0], "  3.14|2.0   |", id="floats"),
        pytest.param("%e", [1234.5], "1.234500e+03", id="exp"),
        pytest.param("%g|%g", [0.5, 1e21], "0.5|1e+21", id="g"),
        pytest.param("%s %v", ["a", {"k": [1, 2]}], "a map[k:[1 2]]", id="s-v"),
        pytest.param("%.2s", ["abcdef"], "ab", id="string-precision"),
        pytest.param("%q", ['a"b\n'], '"a\\"b\\n"', id="quote"),
        pytest.param("%x %X %o %b %#x", [255, 255, 8, 5, 255], "ff FF 10 101 0xff", id="bases"),
        pytest.param("%x", ["hi"], "6869", id="hex-string"),
        pytest.param("%c%c", [72, 105], "Hi", id="char"),
        pytest.param("%t", [False], "false", id="bool"),
        pytest.param("100%%", [], "100%", id="percent"),
        pytest.param("%*d", [5, 42], "   42", id="star-width"),
        pytest.param("%d %s", [1], "1 %!s(MISSING)", id="missing-arg"),
        pytest.param("%d", [1, "x", None], "1%!(EXTRA string=x, <nil>)", id="extra-args"),
        pytest.param("%d", ["x"], "%!d(string=x)", id="wrong-type"),
        pytest.param("%s", [None], "%!s(<nil>)", id="nil"),
        pytest.param("%s", [3], "%!s(int64=3)", id="int-as-string"),
        pytest.param("%z", [1], "%!z(int64=1)", id="unknown-verb"),
        pytest.param("abc%", [], "abc%!(NOVERB)", id="no-verb"),
    ],
)
def test_go_sprintf(fmt: str, args: list[Any], expected: str) -> None:
    assert go_sprintf(fmt, args) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param(None, "<nil>", id="nil"),
        pytest.param(True, "true", id="bool"),
        pytest.param(7, "7", id="int"),
        pytest.param(123456.5, "123456.5", id="float-fixed"),
        pytest.param(1234567.0, "1.234567e+06", id="float-exponent"),
        pytest.param(0.0001, "0.0001", id="small-fixed"),
        pytest.param(0.00001, "1e-05", id="small-exponent"),
        pytest.param(-2.5, "-2.5", id="negative"),
        pytest.param(float("inf"), "+Inf", id="inf"),
        pytest.param({"z": None, "a": [1, "x"]}, "map[a:[1 x] z:<nil>]", id="map"),
        pytest.param([], "[]", id="empty-list"),
        pytest.param({}, "map[]", id="empty-map"),
    ],
)
def test_go_sprint(value: Any, expected: str) -> None:
    assert go_sprint(value) == expected
