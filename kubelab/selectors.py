"""Label selectors, field selectors and the name/label validators.

Where this sits: pure logic in the shared client library (`kubelab`), used by
the API server (list/watch `labelSelector` and `fieldSelector` parameters,
metadata validation), by controllers (a ReplicaSet's or Service's selector
against pod labels) and by kubectl (`-l`, `--field-selector`).  It imports
nothing but the standard library.

The grammar and semantics follow k8s.io/apimachinery/pkg/labels and
pkg/fields:

* label selector strings (``kubectl -l``): ``a=b``, ``a==b``, ``a!=b``,
  ``a in (x,y)``, ``a notin (x)``, ``a`` (exists), ``!a`` (does not exist),
  comma-separated, whitespace tolerant.  ``!=`` and ``notin`` also match
  objects that do not carry the key at all, as in Kubernetes.
* the API form ``{"matchLabels": ..., "matchExpressions": [...]}``: an empty
  selector matches everything, a missing (None) selector matches nothing.
* field selectors: ``a.b=c``, ``a.b==c``, ``a.b!=c``, comma-separated, with
  ``\\,``, ``\\=`` and ``\\\\`` escapes in values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DOES_NOT_EXIST",
    "DOUBLE_EQUALS",
    "EQUALS",
    "EXISTS",
    "IN",
    "NOT_EQUALS",
    "NOT_IN",
    "OPERATORS",
    "FieldRequirement",
    "FieldSelector",
    "Requirement",
    "Selector",
    "SelectorError",
    "from_label_selector",
    "from_label_selector_dict",
    "parse",
    "parse_field_selector",
    "selector_of",
    "validate_dns1123_label",
    "validate_dns1123_subdomain",
    "validate_label_key",
    "validate_label_value",
]


def _shown(text: str, most: int = 256) -> str:
    """`text` quoted for an error message; a hostile 100,000-character selector as its start and `...`."""
    return repr(text) if len(text) <= most else repr(text[:most]) + "..."


class SelectorError(ValueError):
    """A label or field selector is malformed."""


# --------------------------------------------------------------------------
# Validators (wording as k8s.io/apimachinery/pkg/util/validation)
# --------------------------------------------------------------------------

_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile(f"^{_QNAME_FMT}$")
_QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric "
    "characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE = re.compile(f"^{_DNS1123_LABEL_FMT}$")
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric "
    "characters or '-', and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric "
    "character"
)
LABEL_MAX_LENGTH = 63
DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253


def _max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """Kubernetes' RegexError, including its odd double space after commas."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _join(errs: list[str]) -> str | None:
    return "; ".join(errs) if errs else None


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(_max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errs.append(
            _regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com")
        )
    return errs


def validate_dns1123_subdomain(name: str) -> str | None:
    """Error message if `name` is not a DNS-1123 subdomain (≤253), else None."""
    return _join(_dns1123_subdomain_errors(name))


def validate_dns1123_label(name: str) -> str | None:
    """Error message if `name` is not a DNS-1123 label (≤63), else None."""
    errs: list[str] = []
    if len(name) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(_max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.match(name):
        errs.append(
            _regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc")
        )
    return _join(errs)


def validate_label_key(key: str) -> str | None:
    """Error message if `key` is not a qualified name (label key), else None.

    A key is an optional DNS-1123 subdomain prefix and ``/`` followed by a
    name of at most 63 characters.
    """
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in _dns1123_subdomain_errors(prefix))
    else:
        return (
            "a qualified name "
            + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        )
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > LABEL_MAX_LENGTH:
        errs.append("name part " + _max_len_error(LABEL_MAX_LENGTH))
    if not _QNAME_RE.match(name):
        errs.append(
            "name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
        )
    return _join(errs)


def validate_label_value(value: str) -> str | None:
    """Error message if `value` is not a valid label value, else None."""
    errs: list[str] = []
    if len(value) > LABEL_MAX_LENGTH:
        errs.append(_max_len_error(LABEL_MAX_LENGTH))
    if not _LABEL_VALUE_RE.match(value):
        errs.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return _join(errs)


# --------------------------------------------------------------------------
# Label selectors
# --------------------------------------------------------------------------

EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"
OPERATORS = frozenset({EQUALS, DOUBLE_EQUALS, NOT_EQUALS, IN, NOT_IN, EXISTS, DOES_NOT_EXIST})
_SET_OPERATORS = frozenset({IN, NOT_IN})
_SINGLE_OPERATORS = frozenset({EQUALS, DOUBLE_EQUALS, NOT_EQUALS})

# matchExpressions operator (API form) -> selector operator.
_API_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector: `key operator values`.

    Validated on construction: the key must be a valid label key, values
    valid label values; ``in``/``notin`` take one or more values (kept
    sorted, de-duplicated), ``=``/``==``/``!=`` exactly one, ``exists`` and
    ``!`` none.
    """

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.values, str):
            raise SelectorError(f"key {self.key!r}: values must be a sequence of strings, not a string")
        object.__setattr__(self, "values", tuple(self.values))
        if self.operator not in OPERATORS:
            raise SelectorError(f"{self.operator!r} is not a valid selector operator")
        err = validate_label_key(self.key)
        if err:
            raise SelectorError(f"invalid label key {_shown(self.key)}: {err}")
        n = len(self.values)
        if self.operator in _SET_OPERATORS and n == 0:
            raise SelectorError(
                f"key {self.key!r}: for 'in', 'notin' operators, values set can't be empty"
            )
        if self.operator in _SINGLE_OPERATORS and n != 1:
            raise SelectorError(
                f"key {self.key!r}: exact-match compatibility requires one single value"
            )
        if self.operator in (EXISTS, DOES_NOT_EXIST) and n != 0:
            raise SelectorError(
                f"key {self.key!r}: values set must be empty for exists and does not exist"
            )
        for v in self.values:
            err = validate_label_value(v)
            if err:
                raise SelectorError(f"invalid label value {_shown(v)} for key {_shown(self.key)}: {err}")
        if self.operator in _SET_OPERATORS:
            object.__setattr__(self, "values", tuple(sorted(set(self.values))))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies this requirement."""
        op = self.operator
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (EQUALS, DOUBLE_EQUALS, IN):
            return self.key in labels and labels[self.key] in self.values
        # != and notin: an absent key satisfies the requirement.
        return self.key not in labels or labels[self.key] not in self.values

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        if op in _SET_OPERATORS:
            return f"{self.key} {op} ({','.join(self.values)})"
        sym = EQUALS if op == DOUBLE_EQUALS else op
        return f"{self.key}{sym}{self.values[0]}"


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements (sorted by key, as Kubernetes does).

    ``Selector()`` (no requirements) matches everything;
    ``Selector.nothing()`` matches nothing.
    """

    requirements: tuple[Requirement, ...] = ()
    match_nothing: bool = False

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.requirements, key=lambda r: r.key))
        object.__setattr__(self, "requirements", ordered)

    @classmethod
    def nothing(cls) -> Selector:
        return cls(match_nothing=True)

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Selector:
        """The equality selector for a label set (Kubernetes' SelectorFromSet)."""
        return cls(tuple(Requirement(k, EQUALS, (v,)) for k, v in labels.items()))

    @property
    def empty(self) -> bool:
        """True when the selector matches everything (no requirements)."""
        return not self.requirements and not self.match_nothing

    def as_labels(self) -> dict[str, str] | None:
        """The label set of an equality-only selector (a Service's kind of selector), else None."""
        if self.match_nothing or any(r.operator not in (EQUALS, DOUBLE_EQUALS) for r in self.requirements):
            return None
        return {r.key: r.values[0] for r in self.requirements}

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.match_nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        # As in Kubernetes, the nothing-selector renders as the empty string.
        return ",".join(str(r) for r in self.requirements)


# -- lexer ------------------------------------------------------------------

_SPECIAL = "=!(),"
_IDENT, _IN, _NOTIN, _EQ, _DEQ, _NEQ, _BANG, _LPAREN, _RPAREN, _COMMA, _END, _BAD = (
    "identifier", "in", "notin", "=", "==", "!=", "!", "(", ")", ",", "end of input", "bad",
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int

    def describe(self) -> str:
        return "end of input" if self.kind == _END else repr(self.text)


def _lex(s: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
        elif c in "<>":
            toks.append(_Tok(_BAD, c, i))
            i += 1
        elif c in _SPECIAL:
            two = s[i : i + 2]
            if two in ("==", "!="):
                toks.append(_Tok(two, two, i))
                i += 2
            else:
                toks.append(_Tok({"=": _EQ, "!": _BANG, "(": _LPAREN, ")": _RPAREN, ",": _COMMA}[c], c, i))
                i += 1
        else:
            start = i
            while i < n and not s[i].isspace() and s[i] not in _SPECIAL and s[i] not in "<>":
                i += 1
            word = s[start:i]
            kind = {"in": _IN, "notin": _NOTIN}.get(word, _IDENT)
            toks.append(_Tok(kind, word, start))
    toks.append(_Tok(_END, "", n))
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _lex(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        if tok.kind != _END:
            self.i += 1
        return tok

    def fail(self, what: str, tok: _Tok) -> SelectorError:
        if tok.kind == _BAD:
            return SelectorError(
                f"invalid selector {_shown(self.text)}: operator {tok.text!r} is not supported "
                f"(position {tok.pos})"
            )
        return SelectorError(
            f"invalid selector {_shown(self.text)}: expected {what} at position {tok.pos}, "
            f"found {tok.describe()}"
        )

    def parse(self) -> Selector:
        reqs: list[Requirement] = []
        if self.peek().kind == _END:
            return Selector()
        while True:
            reqs.append(self.requirement())
            tok = self.next()
            if tok.kind == _END:
                return Selector(tuple(reqs))
            if tok.kind != _COMMA:
                raise self.fail("',' or end of input", tok)

    def key(self) -> _Tok:
        tok = self.next()
        if tok.kind != _IDENT:
            raise self.fail("a label key", tok)
        return tok

    def requirement(self) -> Requirement:
        if self.peek().kind == _BANG:
            self.next()
            return self.make(self.key(), DOES_NOT_EXIST, [])
        key = self.key()
        if self.peek().kind in (_COMMA, _END):
            return self.make(key, EXISTS, [])
        op = self.next()
        if op.kind in (_EQ, _DEQ, _NEQ):
            nxt = self.peek()
            if nxt.kind in (_COMMA, _END):  # `a=` means the empty value
                return self.make(key, op.kind, [""])
            val = self.next()
            if val.kind not in (_IDENT, _IN, _NOTIN):
                raise self.fail(f"a value after {op.text!r}", val)
            return self.make(key, op.kind, [val.text])
        if op.kind in (_IN, _NOTIN):
            return self.make(key, op.kind, self.value_set(op))
        raise self.fail("an operator (=, ==, !=, in, notin), ',' or end of input", op)

    def value_set(self, op: _Tok) -> list[str]:
        lp = self.next()
        if lp.kind != _LPAREN:
            raise self.fail(f"'(' after {op.text!r}", lp)
        values: list[str] = []
        expect_value = True
        while True:
            tok = self.next()
            if tok.kind == _RPAREN:
                if expect_value and values:  # trailing comma: `(a,)` adds ""
                    values.append("")
                return values
            if tok.kind == _COMMA:
                if expect_value:
                    values.append("")
                expect_value = True
            elif tok.kind in (_IDENT, _IN, _NOTIN) and expect_value:
                values.append(tok.text)
                expect_value = False
            elif expect_value:
                raise self.fail("a value or ')'", tok)
            else:
                raise self.fail("',' or ')'", tok)

    def make(self, key: _Tok, op: str, values: list[str]) -> Requirement:
        try:
            return Requirement(key.text, op, tuple(values))
        except SelectorError as e:
            raise SelectorError(
                f"invalid selector {_shown(self.text)} at position {key.pos}: {e}"
            ) from None


def parse(s: str) -> Selector:
    """Parse a kubectl ``-l`` label selector; raise SelectorError if invalid."""
    return _Parser(s).parse()


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def from_label_selector(
    match_labels: Mapping[str, str] | None,
    match_expressions: Iterable[Any] | None,
) -> Selector:
    """Build a Selector from a LabelSelector's parts (Kubernetes'
    LabelSelectorAsSelector).  Expressions may be dicts or objects with
    ``key``/``operator``/``values`` attributes (e.g. protobuf messages).
    No labels and no expressions gives the match-everything selector.
    """
    reqs = [Requirement(k, EQUALS, (v,)) for k, v in (match_labels or {}).items()]
    for expr in match_expressions or ():
        key = _get(expr, "key")
        api_op = _get(expr, "operator")
        if not isinstance(key, str):
            raise SelectorError(f"match expression {expr!r} has no key")
        op = _API_OPERATORS.get(str(api_op))
        if op is None:
            raise SelectorError(f"{api_op!r} is not a valid label selector operator")
        values = tuple(str(v) for v in (_get(expr, "values") or ()))
        reqs.append(Requirement(key, op, values))
    return Selector(tuple(reqs))


def selector_of(obj: Any) -> Selector:
    """The pod selector an object carries in ``spec.selector``.

    A LabelSelector (ReplicaSet, Deployment, PodDisruptionBudget: Kubernetes'
    LabelSelectorAsSelector) or a Service's plain label map (SelectorFromSet).
    Either, when empty, matches everything: a caller to whom an empty
    selector means "no pods" (a Service's endpoints) checks ``empty``.
    Raises SelectorError for an invalid one.
    """
    sel = obj.spec.selector
    if isinstance(sel, Mapping):
        return Selector.from_labels(sel)
    return from_label_selector(sel.match_labels, sel.match_expressions)


def from_label_selector_dict(d: Mapping[str, Any] | None) -> Selector:
    """Selector for the JSON form ``{"matchLabels": ..., "matchExpressions": [...]}``.

    ``None`` (no selector at all) returns ``Selector.nothing()``, which
    matches no object; ``{}`` returns the selector that matches everything.
    """
    if d is None:
        return Selector.nothing()
    return from_label_selector(d.get("matchLabels"), d.get("matchExpressions"))


# --------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------

_FIELD_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class FieldRequirement:
    """`field operator value` with operator one of ``=``, ``==``, ``!=``."""

    field: str
    operator: str
    value: str

    def matches(self, get: Callable[[str], str]) -> bool:
        equal = get(self.field) == self.value
        return not equal if self.operator == NOT_EQUALS else equal

    def __str__(self) -> str:
        sym = EQUALS if self.operator == DOUBLE_EQUALS else self.operator
        return f"{self.field}{sym}{_escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of field requirements; empty matches everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    @property
    def fields(self) -> tuple[str, ...]:
        """The field paths this selector reads, in order."""
        return tuple(r.field for r in self.requirements)

    def matches(self, get: Callable[[str], str]) -> bool:
        """`get` maps a dotted path (``spec.nodeName``) to its string value."""
        return all(r.matches(get) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _escape_field_value(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_unescaped(s: str, sep: str) -> list[tuple[int, str]]:
    """Split on `sep` not preceded by a backslash escape; keep offsets."""
    parts: list[tuple[int, str]] = []
    start, i = 0, 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == sep:
            parts.append((start, s[start:i]))
            start = i + 1
        i += 1
    parts.append((start, s[start:]))
    return parts


def _unescape_field_value(text: str, v: str, pos: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(v):
        c = v[i]
        if c == "\\":
            if i + 1 >= len(v) or v[i + 1] not in "\\,=":
                raise SelectorError(
                    f"invalid field selector {text!r}: invalid escape sequence at position {pos + i}"
                )
            out.append(v[i + 1])
            i += 2
            continue
        if c in ",=":
            raise SelectorError(
                f"invalid field selector {text!r}: unescaped {c!r} at position {pos + i}"
            )
        out.append(c)
        i += 1
    return "".join(out)


def parse_field_selector(s: str) -> FieldSelector:
    """Parse ``a.b=c,d!=e`` (``--field-selector``); raise SelectorError if invalid."""
    if not s.strip():
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for pos, part in _split_unescaped(s, ","):
        m = re.search(r"!=|==|=", part)
        if m is None:
            raise SelectorError(
                f"invalid field selector {s!r}: {part.strip()!r} at position {pos} "
                "has no operator (expected field=value, field==value or field!=value)"
            )
        field = part[: m.start()].strip()
        if not _FIELD_RE.match(field):
            raise SelectorError(
                f"invalid field selector {s!r}: invalid field path {field!r} at position {pos}"
            )
        raw = part[m.end() :]
        lead = len(raw) - len(raw.lstrip())
        value = _unescape_field_value(s, raw.strip(), pos + m.end() + lead)
        reqs.append(FieldRequirement(field, m.group(0), value))
    return FieldSelector(tuple(reqs))
