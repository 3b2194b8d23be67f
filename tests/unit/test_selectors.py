"""Unit tests for kubelab.selectors: label/field selector parsing, matching,
canonical strings, the LabelSelector API form and the name validators."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kubelab import selectors as sel
from kubelab.selectors import (
    Requirement,
    Selector,
    SelectorError,
    from_label_selector,
    from_label_selector_dict,
    parse,
    parse_field_selector,
    validate_dns1123_label,
    validate_dns1123_subdomain,
    validate_label_key,
    validate_label_value,
)

WEB = {"app": "web", "tier": "frontend", "env": "prod"}


# ---------------------------------------------------------------- parse + match


@pytest.mark.parametrize(
    "selector, labels, expected",
    [
        pytest.param("", WEB, True, id="empty-matches-all"),
        pytest.param("   ", {}, True, id="blank-matches-all"),
        pytest.param("app=web", WEB, True, id="equals"),
        pytest.param("app==web", WEB, True, id="double-equals"),
        pytest.param("app=db", WEB, False, id="equals-other-value"),
        pytest.param("app!=db", WEB, True, id="not-equals"),
        pytest.param("app!=web", WEB, False, id="not-equals-same"),
        pytest.param("missing!=x", WEB, True, id="not-equals-absent-key-matches"),
        pytest.param("app in (web,db)", WEB, True, id="in"),
        pytest.param("app in (db)", WEB, False, id="in-no"),
        pytest.param("missing in (x)", WEB, False, id="in-absent-key"),
        pytest.param("app notin (db,cache)", WEB, True, id="notin"),
        pytest.param("app notin (web)", WEB, False, id="notin-no"),
        pytest.param("missing notin (x)", WEB, True, id="notin-absent-key-matches"),
        pytest.param("app", WEB, True, id="exists"),
        pytest.param("missing", WEB, False, id="exists-no"),
        pytest.param("!missing", WEB, True, id="does-not-exist"),
        pytest.param("!app", WEB, False, id="does-not-exist-no"),
        pytest.param("app=web,tier=frontend", WEB, True, id="and"),
        pytest.param("app=web,tier=backend", WEB, False, id="and-one-fails"),
        pytest.param("  app = web ,  tier in ( frontend , x ) , ! gone ", WEB, True, id="whitespace"),
        pytest.param("app in(web)", WEB, True, id="in-no-space-before-paren"),
        pytest.param("empty=", {"empty": ""}, True, id="empty-value"),
        pytest.param("empty=", {"empty": "x"}, False, id="empty-value-no"),
        pytest.param("empty in (,x)", {"empty": ""}, True, id="empty-value-in-set"),
        pytest.param("example.com/app=web", {"example.com/app": "web"}, True, id="prefixed-key"),
        pytest.param("a=in", {"a": "in"}, True, id="keyword-as-value"),
        pytest.param("a in (notin,in)", {"a": "notin"}, True, id="keywords-in-set"),
    ],
)
def test_parse_and_match(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse(selector).matches(labels) is expected


@pytest.mark.parametrize(
    "selector, canonical",
    [
        pytest.param("app=web", "app=web", id="equals"),
        pytest.param("app==web", "app=web", id="double-equals-normalised"),
        pytest.param("tier in (b,a,a)", "tier in (a,b)", id="set-sorted-deduplicated"),
        pytest.param("!x,tier in (a,b),app=web", "app=web,tier in (a,b),!x", id="sorted-by-key"),
        pytest.param("x notin ( c , a )", "x notin (a,c)", id="notin"),
        pytest.param(" a ", "a", id="exists"),
        pytest.param("a!=b", "a!=b", id="not-equals"),
        pytest.param("", "", id="empty"),
    ],
)
def test_canonical_string(selector: str, canonical: str) -> None:
    s = parse(selector)
    assert str(s) == canonical
    assert str(parse(str(s))) == canonical  # round-trips


@pytest.mark.parametrize(
    "selector, message",
    [
        pytest.param("a in (", "expected a value or ')' at position 6, found end of input", id="unclosed-set"),
        pytest.param("a in (x", "expected ',' or ')' at position 7", id="unclosed-after-value"),
        pytest.param("a in (x y)", "expected ',' or ')' at position 8, found 'y'", id="missing-comma-in-set"),
        pytest.param("=b", "expected a label key at position 0, found '='", id="no-key"),
        pytest.param("a in x", "expected '(' after 'in' at position 5", id="in-without-parens"),
        pytest.param("a in ()", "values set can't be empty", id="empty-set"),
        pytest.param("a b", "expected an operator (=, ==, !=, in, notin), ',' or end of input at position 2", id="two-words"),
        pytest.param("a=b,", "expected a label key at position 4, found end of input", id="trailing-comma"),
        pytest.param(",a", "expected a label key at position 0, found ','", id="leading-comma"),
        pytest.param("a=b=c", "expected ',' or end of input at position 3", id="double-operator"),
        pytest.param("a=(b)", "expected a value after '=' at position 2, found '('", id="paren-value"),
        pytest.param("!", "expected a label key at position 1, found end of input", id="bang-alone"),
        pytest.param("!a=b", "expected ',' or end of input at position 2", id="bang-with-value"),
        pytest.param("a>1", "operator '>' is not supported", id="gt-unsupported"),
        pytest.param("-bad=x", "invalid label key '-bad'", id="key-bad-start"),
        pytest.param("a/b/c=x", "invalid label key 'a/b/c'", id="key-two-slashes"),
        pytest.param("Bad_Prefix.com/a=x", "prefix part a lowercase RFC 1123 subdomain", id="key-bad-prefix"),
        pytest.param("/a=x", "prefix part must be non-empty", id="key-empty-prefix"),
        pytest.param("a/=x", "name part must be non-empty", id="key-empty-name"),
        pytest.param("k" * 64 + "=x", "name part must be no more than 63 characters", id="key-too-long"),
        pytest.param("a=bad!", "expected ',' or end of input", id="value-bad-char"),
        pytest.param("a=-bad", "invalid label value '-bad'", id="value-bad-start"),
        pytest.param("a=" + "v" * 64, "must be no more than 63 characters", id="value-too-long"),
        pytest.param("a in (ok,-bad)", "invalid label value '-bad'", id="set-value-invalid"),
    ],
)
def test_parse_errors(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as exc:
        parse(selector)
    assert message in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_error_names_the_selector() -> None:
    with pytest.raises(SelectorError, match=r"invalid selector 'a in \('"):
        parse("a in (")


# ---------------------------------------------------------------- Selector / Requirement API


@pytest.mark.parametrize(
    "key, op, values, message",
    [
        pytest.param("a", "in", (), "values set can't be empty", id="in-empty"),
        pytest.param("a", "=", ("x", "y"), "one single value", id="equals-two-values"),
        pytest.param("a", "exists", ("x",), "values set must be empty", id="exists-with-values"),
        pytest.param("a", "~", ("x",), "not a valid selector operator", id="bad-operator"),
        pytest.param("", "exists", (), "name part must be non-empty", id="empty-key"),
    ],
)
def test_requirement_validation(key: str, op: str, values: tuple[str, ...], message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        Requirement(key, op, values)


@pytest.mark.parametrize(
    "selector, empty, labels, expected",
    [
        pytest.param(Selector(), True, {}, True, id="everything"),
        pytest.param(Selector.nothing(), False, {}, False, id="nothing-empty-labels"),
        pytest.param(Selector.nothing(), False, WEB, False, id="nothing-any-labels"),
        pytest.param(Selector.from_labels({"app": "web"}), False, WEB, True, id="from-labels"),
        pytest.param(Selector.from_labels({"app": "db"}), False, WEB, False, id="from-labels-no"),
        pytest.param(Selector.from_labels({}), True, WEB, True, id="from-empty-labels"),
    ],
)
def test_selector_api(selector: Selector, empty: bool, labels: dict[str, str], expected: bool) -> None:
    assert selector.empty is empty
    assert selector.matches(labels) is expected


def test_requirement_values_normalised() -> None:
    r = Requirement("a", "=", ["x"])  # type: ignore[arg-type]
    assert r.values == ("x",)
    assert hash(r) == hash(Requirement("a", "=", ("x",)))
    with pytest.raises(SelectorError, match="not a string"):
        Requirement("a", "in", "xy")  # type: ignore[arg-type]


def test_nothing_renders_empty_like_kubernetes() -> None:
    assert str(Selector.nothing()) == ""


# ---------------------------------------------------------------- LabelSelector forms


@dataclass
class _Expr:  # stands in for a protobuf LabelSelectorRequirement
    key: str
    operator: str
    values: list[str] = field(default_factory=list)


@pytest.mark.parametrize(
    "match_labels, exprs, labels, expected",
    [
        pytest.param({}, [], {}, True, id="empty-matches-everything"),
        pytest.param(None, None, WEB, True, id="none-parts-match-everything"),
        pytest.param({"app": "web"}, [], WEB, True, id="labels-only"),
        pytest.param({"app": "db"}, [], WEB, False, id="labels-only-no"),
        pytest.param({}, [{"key": "tier", "operator": "In", "values": ["frontend", "x"]}], WEB, True, id="dict-in"),
        pytest.param({}, [{"key": "tier", "operator": "NotIn", "values": ["frontend"]}], WEB, False, id="dict-notin"),
        pytest.param({}, [{"key": "env", "operator": "Exists"}], WEB, True, id="dict-exists"),
        pytest.param({}, [{"key": "env", "operator": "DoesNotExist"}], WEB, False, id="dict-does-not-exist"),
        pytest.param({}, [_Expr("tier", "In", ["frontend"])], WEB, True, id="object-in"),
        pytest.param({}, [_Expr("gone", "DoesNotExist")], WEB, True, id="object-does-not-exist"),
        pytest.param({"app": "web"}, [_Expr("env", "NotIn", ["dev"])], WEB, True, id="labels-and-exprs"),
        pytest.param({"app": "web"}, [_Expr("env", "In", ["dev"])], WEB, False, id="labels-and-exprs-no"),
    ],
)
def test_from_label_selector(
    match_labels: dict[str, str] | None, exprs: list[Any] | None, labels: dict[str, str], expected: bool
) -> None:
    assert from_label_selector(match_labels, exprs).matches(labels) is expected


@pytest.mark.parametrize(
    "exprs, message",
    [
        pytest.param([{"key": "a", "operator": "Equals", "values": ["x"]}], "not a valid label selector operator", id="bad-op"),
        pytest.param([{"key": "a", "operator": "In", "values": []}], "values set can't be empty", id="in-empty"),
        pytest.param([{"key": "a", "operator": "Exists", "values": ["x"]}], "values set must be empty", id="exists-values"),
        pytest.param([{"operator": "Exists"}], "has no key", id="no-key"),
        pytest.param([_Expr("bad key", "Exists")], "invalid label key", id="bad-key"),
    ],
)
def test_from_label_selector_errors(exprs: list[Any], message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        from_label_selector({}, exprs)


@pytest.mark.parametrize(
    "d, labels, expected, text",
    [
        pytest.param(None, WEB, False, "", id="none-matches-nothing"),
        pytest.param({}, WEB, True, "", id="empty-dict-matches-everything"),
        pytest.param({"matchLabels": {"app": "web"}}, WEB, True, "app=web", id="match-labels"),
        pytest.param(
            {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
            {"app": "web", "tier": "a"}, True, "app=web,tier in (a,b)", id="both",
        ),
        pytest.param({"matchExpressions": None, "matchLabels": None}, {}, True, "", id="null-fields"),
    ],
)
def test_from_label_selector_dict(d: dict[str, Any] | None, labels: dict[str, str], expected: bool, text: str) -> None:
    s = from_label_selector_dict(d)
    assert s.matches(labels) is expected
    assert str(s) == text


# ---------------------------------------------------------------- field selectors

POD_FIELDS = {"metadata.name": "web-1", "spec.nodeName": "node-a", "status.phase": "Running", "metadata.namespace": "a,b=c"}


@pytest.mark.parametrize(
    "selector, expected, fields",
    [
        pytest.param("", True, (), id="empty"),
        pytest.param("spec.nodeName=node-a", True, ("spec.nodeName",), id="equals"),
        pytest.param("spec.nodeName==node-a", True, ("spec.nodeName",), id="double-equals"),
        pytest.param("spec.nodeName!=node-a", False, ("spec.nodeName",), id="not-equals"),
        pytest.param("spec.nodeName=", False, ("spec.nodeName",), id="empty-value"),
        pytest.param("status.phase=Running,metadata.name=web-1", True, ("status.phase", "metadata.name"), id="and"),
        pytest.param("status.phase=Running,metadata.name!=web-1", False, ("status.phase", "metadata.name"), id="and-no"),
        pytest.param(" status.phase = Running ", True, ("status.phase",), id="whitespace"),
        pytest.param(r"metadata.namespace=a\,b\=c", True, ("metadata.namespace",), id="escapes"),
    ],
)
def test_field_selector(selector: str, expected: bool, fields: tuple[str, ...]) -> None:
    fs = parse_field_selector(selector)
    assert fs.matches(POD_FIELDS.__getitem__) is expected
    assert fs.fields == fields
    assert fs.empty is (not fields)


@pytest.mark.parametrize(
    "selector, message",
    [
        pytest.param("spec.nodeName", "has no operator", id="no-operator"),
        pytest.param("=x", "invalid field path ''", id="no-field"),
        pytest.param("spec node=x", "invalid field path 'spec node'", id="space-in-field"),
        pytest.param("a=b=c", "unescaped '='", id="unescaped-equals"),
        pytest.param(r"a=b\x", "invalid escape sequence", id="bad-escape"),
        pytest.param("a=b,,c=d", "has no operator", id="empty-term"),
    ],
)
def test_field_selector_errors(selector: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        parse_field_selector(selector)


@pytest.mark.parametrize(
    "selector, text, node, matches",
    [
        pytest.param("spec.nodeName==n1", "spec.nodeName=n1", "n1", True, id="pinned"),
        pytest.param("spec.nodeName!=n1", "spec.nodeName!=n1", "n1", False, id="not-pinned"),
        pytest.param(r"spec.nodeName=a\,b", r"spec.nodeName=a\,b", "a,b", True, id="escaped-round-trip"),
    ],
)
def test_field_selector_string_and_exact_match(selector: str, text: str, node: str, matches: bool) -> None:
    fs = parse_field_selector(selector)
    assert str(fs) == text
    assert fs.matches({"spec.nodeName": node}.__getitem__) is matches
    assert str(parse_field_selector(str(fs))) == text


# ---------------------------------------------------------------- validators

LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
    "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    r"validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("", None, id="empty-ok"),
        pytest.param("web", None, id="simple"),
        pytest.param("My_Value.1-x", None, id="mixed-chars"),
        pytest.param("v" * 63, None, id="max-length"),
        pytest.param("v" * 64, "must be no more than 63 characters", id="too-long"),
        pytest.param("-x", LABEL_VALUE_MSG, id="leading-dash"),
        pytest.param("x.", LABEL_VALUE_MSG, id="trailing-dot"),
        pytest.param("a b", LABEL_VALUE_MSG, id="space"),
        pytest.param("-" * 64, "must be no more than 63 characters; " + LABEL_VALUE_MSG, id="both-errors"),
    ],
)
def test_validate_label_value(value: str, expected: str | None) -> None:
    assert validate_label_value(value) == expected


@pytest.mark.parametrize(
    "key, fragment",
    [
        pytest.param("app", None, id="simple"),
        pytest.param("app.kubernetes.io/name", None, id="prefixed"),
        pytest.param("A_b.C-d", None, id="mixed-case-name"),
        pytest.param("k" * 63, None, id="max-name"),
        pytest.param("", "name part must be non-empty", id="empty"),
        pytest.param("k" * 64, "name part must be no more than 63 characters", id="name-too-long"),
        pytest.param("-a", "name part must consist of alphanumeric characters", id="name-bad-start"),
        pytest.param("a/b/c", "a qualified name must consist of", id="two-slashes"),
        pytest.param("/a", "prefix part must be non-empty", id="empty-prefix"),
        pytest.param("UPPER.com/a", "prefix part a lowercase RFC 1123 subdomain", id="uppercase-prefix"),
        pytest.param("p" * 254 + "/a", "prefix part must be no more than 253 characters", id="prefix-too-long"),
    ],
)
def test_validate_label_key(key: str, fragment: str | None) -> None:
    err = validate_label_key(key)
    if fragment is None:
        assert err is None
    else:
        assert err is not None and fragment in err


@pytest.mark.parametrize(
    "name, expected",
    [
        pytest.param("example.com", None, id="ok"),
        pytest.param("a", None, id="single-char"),
        pytest.param("web-1.default.svc", None, id="dotted"),
        pytest.param("Web", SUBDOMAIN_MSG, id="uppercase"),
        pytest.param("a..b", SUBDOMAIN_MSG, id="empty-label"),
        pytest.param("-a", SUBDOMAIN_MSG, id="leading-dash"),
        pytest.param("", SUBDOMAIN_MSG, id="empty"),
        pytest.param("a" * 253, None, id="max-length"),
        pytest.param("a" * 254, "must be no more than 253 characters", id="too-long"),
    ],
)
def test_validate_dns1123_subdomain(name: str, expected: str | None) -> None:
    assert validate_dns1123_subdomain(name) == expected


@pytest.mark.parametrize(
    "name, expected",
    [
        pytest.param("my-name", None, id="ok"),
        pytest.param("123-abc", None, id="digits"),
        pytest.param("a.b", LABEL_MSG, id="dot-not-allowed"),
        pytest.param("a_b", LABEL_MSG, id="underscore"),
        pytest.param("a-", LABEL_MSG, id="trailing-dash"),
        pytest.param("a" * 63, None, id="max-length"),
        pytest.param("a" * 64, "must be no more than 63 characters", id="too-long"),
    ],
)
def test_validate_dns1123_label(name: str, expected: str | None) -> None:
    assert validate_dns1123_label(name) == expected


@pytest.mark.parametrize(
    "text, operator, wire",
    [
        pytest.param("a=x", sel.EQUALS, "=", id="equals"),
        pytest.param("a==x", sel.DOUBLE_EQUALS, "==", id="double-equals"),
        pytest.param("a!=x", sel.NOT_EQUALS, "!=", id="not-equals"),
        pytest.param("a in (x)", sel.IN, "in", id="in"),
        pytest.param("a notin (x)", sel.NOT_IN, "notin", id="notin"),
        pytest.param("a", sel.EXISTS, "exists", id="exists"),
        pytest.param("!a", sel.DOES_NOT_EXIST, "!", id="does-not-exist"),
    ],
)
def test_each_syntax_parses_to_its_operator(text: str, operator: str, wire: str) -> None:
    # the exported operator names are Kubernetes' selection.Operator values, the ones parse produces
    assert operator == wire
    (req,) = parse(text).requirements
    assert (req.key, req.operator) == ("a", operator)
    assert operator in sel.OPERATORS


def test_operators_are_exactly_what_a_requirement_accepts() -> None:
    assert set(sel.OPERATORS) == {"=", "==", "!=", "in", "notin", "exists", "!"}
    for op in sel.OPERATORS:
        values = () if op in (sel.EXISTS, sel.DOES_NOT_EXIST) else ("x",)
        assert Requirement("a", op, values).operator == op
    with pytest.raises(SelectorError, match="'~' is not a valid selector operator"):
        Requirement("a", "~", ("x",))


def test_field_selector_is_made_of_field_requirements() -> None:
    fs = parse_field_selector("spec.nodeName=n1,status.phase!=Failed")
    assert isinstance(fs, sel.FieldSelector)
    assert fs.requirements == (sel.FieldRequirement("spec.nodeName", sel.EQUALS, "n1"),
                               sel.FieldRequirement("status.phase", sel.NOT_EQUALS, "Failed"))
    fields = {"spec.nodeName": "n1", "status.phase": "Running"}
    assert fs.matches(lambda f: fields.get(f, ""))
    fields["status.phase"] = "Failed"
    assert not fs.matches(lambda f: fields.get(f, ""))


# ---------------------------------------------------------------- an object's selector
def _object(doc: dict[str, Any]) -> Any:
    from kubelab import manifests
    return manifests.from_dict(doc)


@pytest.mark.parametrize("doc, text, labels", [
    pytest.param({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                  "spec": {"selector": {"app": "web", "tier": "front"}, "ports": [{"port": 80}]}},
                 "app=web,tier=front", {"app": "web", "tier": "front"}, id="service-map"),
    pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"selector": {"matchLabels": {"app": "web"},
                                        "matchExpressions": [{"key": "env", "operator": "NotIn",
                                                              "values": ["dev"]}]},
                           "template": {"metadata": {"labels": {"app": "web"}}}}},
                 "app=web,env notin (dev)", None, id="deployment-expressions"),
    pytest.param({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"},
                  "spec": {"selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}}}}},
                 "app=web", {"app": "web"}, id="replicaset-labels"),
    pytest.param({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"},
                  "spec": {"minAvailable": 1, "selector": {"matchExpressions": [
                      {"key": "app", "operator": "Exists"}]}}},
                 "app", None, id="pdb-exists"),
    pytest.param({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                  "spec": {"ports": [{"port": 80}]}}, "", {}, id="service-without-selector"),
])
def test_selector_of_an_object(doc: dict[str, Any], text: str, labels: dict[str, str] | None) -> None:
    selector = sel.selector_of(_object(doc))
    assert str(selector) == text
    assert selector.as_labels() == labels
    assert selector.matches({"app": "web", "tier": "front", "env": "prod"})
    assert not selector.matches({"other": "x"}) or selector.empty


def test_selector_of_an_invalid_selector_raises() -> None:
    d = _object({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                 "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}})
    with pytest.raises(SelectorError):
        sel.selector_of(d)
