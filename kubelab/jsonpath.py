"""kubectl output templates: JSONPath, custom-columns and Go templates.

Where this sits: pure logic in the shared client library (`kubelab`), used by
kubectl's ``-o jsonpath=...``, ``-o custom-columns=...`` and
``-o go-template=...`` printers (and by ``--sort-by``).  Everything works on
plain JSON-like values - the object as Kubernetes serialises it to JSON
(camelCase keys): dicts, lists, str, int, float, bool, None.  Standard
library only.

* `jsonpath` follows k8s.io/client-go/util/jsonpath as kubectl configures it
  (missing keys allowed): ``{.a.b}``, ``{.items[*].x}``, ``[0]``, ``[-1]``,
  ``[1:3]``, ``[0,2]``, ``['k']``, ``[?(@.type=="Ready")]`` (with ``==``,
  ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``&&``, ``||``), ``..`` recursive
  descent, ``*``, ``$``/``@``, ``{range ...}...{end}``, ``{"\\n"}`` string
  literals and ``\\.`` escapes in keys.  Several results of one expression
  are joined by a space; maps and lists print as compact JSON; a missing
  field, a null and an out-of-range index print nothing.
* `custom_columns` is kubectl's custom-columns printer: one row per object,
  several values joined with ``,``, nothing found -> ``<none>``.
* `go_template` is the part of Go's text/template kubectl users rely on:
  fields, variables, pipelines, ``if``/``else if``/``else``, ``range``
  (with ``$i, $v :=`` and ``else``), ``with``, ``break``/``continue``,
  parenthesised pipelines, trim markers ``{{-``/``-}}``, comments, and the
  functions ``and or not len index slice eq ne lt le gt ge print printf
  println base64decode``.  Values print as Go does (``map[a:b]``,
  ``[x y]``, ``<no value>`` for a missing key).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NoReturn, Union

__all__ = [
    "JSONPathError",
    "TemplateError",
    "custom_columns",
    "format_columns",
    "go_sprint",
    "go_template",
    "jsonpath",
    "jsonpath_values",
    "relaxed_jsonpath",
]


class JSONPathError(ValueError):
    """A JSONPath or custom-columns template is malformed."""


class TemplateError(ValueError):
    """A Go template is malformed or fails while executing."""


# ==========================================================================
# Go-style value formatting (shared)
# ==========================================================================


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _float_parts(f: float) -> tuple[str, str, int]:
    """(sign, shortest significant digits, decimal exponent of the first digit)."""
    _, digit_tuple, exp = Decimal(repr(abs(f))).normalize().as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple))
    return ("-" if f < 0 else ""), digits, len(digits) + exp - 1


def _fixed(sign: str, digits: str, x: int) -> str:
    point = x + 1  # digits before the decimal point
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    if point > 0:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    return f"{sign}0.{'0' * -point}{digits}"


def _mantissa(digits: str) -> str:
    return digits[0] + ("." + digits[1:] if len(digits) > 1 else "")


def _go_float(f: float) -> str:
    """Go's ``%v`` for a float64 (strconv 'g', shortest digits)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    sign, digits, x = _float_parts(f)
    if x < -4 or x >= 6:
        return f"{sign}{_mantissa(digits)}e{'-' if x < 0 else '+'}{abs(x):02d}"
    return _fixed(sign, digits, x)


def go_sprint(v: Any) -> str:
    """Go's ``fmt.Sprint`` of a JSON value held in an ``interface{}``."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_sprint(x) for x in v) + "]"
    return str(v)


def _go_type(v: Any) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Mapping):
        return "map[string]interface {}"
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    return type(v).__name__


def _go_json_float(f: float) -> str:
    """encoding/json's float64: fixed notation unless tiny or huge."""
    if not math.isfinite(f):
        return "null"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    sign, digits, x = _float_parts(f)
    if abs(f) < 1e-6 or abs(f) >= 1e21:
        return f"{sign}{_mantissa(digits)}e{'-' if x < 0 else '+'}{abs(x)}"
    return _fixed(sign, digits, x)


def _go_json(v: Any) -> str:
    """Go's ``json.Marshal``: compact, sorted keys, HTML-safe escaping."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_json_float(v)
    if isinstance(v, str):
        s = json.dumps(v, ensure_ascii=False)
        for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                        ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
            s = s.replace(ch, esc)
        return s
    if isinstance(v, Mapping):
        return "{" + ",".join(f"{_go_json(str(k))}:{_go_json(v[k])}" for k in sorted(v)) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_go_json(x) for x in v) + "]"
    return _go_json(str(v))


_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", '"': '"', "'": "'",
}


def _unescape(body: str) -> str:
    """Decode Go string-literal escapes (strconv.Unquote); ValueError if bad."""
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("trailing backslash")
        e = body[i + 1]
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError(f"invalid \\{e} escape")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(d in "01234567" for d in digits):
                raise ValueError("invalid octal escape")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ValueError(f"unknown escape sequence \\{e}")
    return "".join(out)


def _scan_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a quoted literal starting at text[start]; return (value, end)."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "\n":
            break
        if c == quote:
            return _unescape(text[start + 1 : i]), i + 1
        i += 1
    raise ValueError("unterminated quoted string")


# ==========================================================================
# JSONPath
# ==========================================================================


@dataclass(frozen=True)
class _JField:
    name: str


@dataclass(frozen=True)
class _JWildcard:
    pass


@dataclass(frozen=True)
class _JRecursive:
    pass


@dataclass(frozen=True)
class _JSlice:
    start: int | None
    end: int | None
    step: int | None
    single: bool


@dataclass(frozen=True)
class _JUnion:
    keys: tuple[int | str, ...]


@dataclass(frozen=True)
class _JLiteral:
    value: Any


@dataclass(frozen=True)
class _JCmp:
    left: Union[_JPath, _JLiteral]
    op: str | None = None
    right: Union[_JPath, _JLiteral, None] = None


@dataclass(frozen=True)
class _JBool:
    op: str  # "&&" or "||"
    left: _JCond
    right: _JCond


_JCond = Union[_JCmp, _JBool]


@dataclass(frozen=True)
class _JFilter:
    cond: _JCond


_JStep = Union[_JField, _JWildcard, _JRecursive, _JSlice, _JUnion, _JFilter]


@dataclass(frozen=True)
class _JPath:
    root: str  # "$" (document root) or "@" (current value)
    steps: tuple[_JStep, ...]


@dataclass
class _JText:
    text: str


@dataclass
class _JExpr:
    path: _JPath


@dataclass
class _JRange:
    path: _JPath
    body: list[_JNode] = field(default_factory=list)


_JNode = Union[_JText, _JExpr, _JRange]

_NAME_STOP = frozenset(" \t\r\n.[](){},=!<>\"'&|")
_JNUM_RE = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT_RE = re.compile(r"\s*(-?[0-9]+)?\s*")


class _JPParser:
    """Recursive-descent parser for a kubectl JSONPath template."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # -- helpers ----------------------------------------------------------

    def fail(self, msg: str, pos: int | None = None) -> NoReturn:
        at = self.pos if pos is None else pos
        raise JSONPathError(f"invalid jsonpath template {self.text!r}: {msg} at position {at}")

    def peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.text[i] if i < len(self.text) else ""

    def skip_ws(self) -> None:
        while self.peek() and self.peek() in " \t\r\n":
            self.pos += 1

    def expect(self, s: str) -> None:
        if not self.text.startswith(s, self.pos):
            found = repr(self.peek()) if self.peek() else "end of template"
            self.fail(f"expected {s!r}, found {found}")
        self.pos += len(s)

    def string(self) -> str:
        start = self.pos
        try:
            value, self.pos = _scan_quoted(self.text, self.pos)
        except ValueError as e:
            self.fail(str(e), start)
        return value

    def keyword(self, word: str) -> bool:
        """True (and consumed) if `word` follows as a whole word."""
        end = self.pos + len(word)
        if self.text.startswith(word, self.pos) and (
            end >= len(self.text) or self.text[end] in " \t\r\n}"
        ):
            self.pos = end
            return True
        return False

    # -- template ---------------------------------------------------------

    def template(self) -> list[_JNode]:
        root: list[_JNode] = []
        stack: list[tuple[_JRange, int]] = []
        out = root
        n = len(self.text)
        while self.pos < n:
            brace = self.text.find("{", self.pos)
            if brace < 0:
                out.append(_JText(self.text[self.pos :]))
                break
            if brace > self.pos:
                out.append(_JText(self.text[self.pos : brace]))
            start = brace
            self.pos = brace + 1
            self.skip_ws()
            if self.peek() == "}":
                self.fail("empty action", start)
            if self.peek() in ("\"", "'"):
                out.append(_JText(self.string()))
            elif self.keyword("range"):
                self.skip_ws()
                rng = _JRange(self.path())
                out.append(rng)
                stack.append((rng, start))
                out = rng.body
            elif self.keyword("end"):
                if not stack:
                    self.fail("{end} without a matching {range}", start)
                stack.pop()
                out = stack[-1][0].body if stack else root
            else:
                out.append(_JExpr(self.path()))
            self.skip_ws()
            if self.peek() != "}":
                if not self.peek():
                    self.fail("unclosed action (missing '}')", start)
                self.fail(f"unexpected {self.peek()!r} in action")
            self.pos += 1
        if stack:
            self.fail("{range} is missing its {end}", stack[-1][1])
        return root

    # -- paths ------------------------------------------------------------

    def path(self) -> _JPath:
        c = self.peek()
        root = "@"
        if c in ("$", "@"):
            root = c
            self.pos += 1
        elif c not in (".", "["):
            found = repr(c) if c else "end of template"
            self.fail(f"expected a path starting with '.', '[', '$' or '@', found {found}")
        steps: list[_JStep] = []
        while True:
            c = self.peek()
            if self.text.startswith("..", self.pos):
                self.pos += 2
                steps.append(_JRecursive())
                c = self.peek()
                if c == "[":
                    steps.append(self.bracket())
                elif c == "*":
                    self.pos += 1
                    steps.append(_JWildcard())
                elif c and (c not in _NAME_STOP or c == "\\"):
                    steps.append(_JField(self.name()))
                else:
                    self.fail("expected a field name after '..'")
            elif c == ".":
                self.pos += 1
                c = self.peek()
                if c == "*":
                    self.pos += 1
                    steps.append(_JWildcard())
                elif c and (c not in _NAME_STOP or c == "\\"):
                    steps.append(_JField(self.name()))
                # else: a lone/trailing '.' means the current value
            elif c == "[":
                steps.append(self.bracket())
            else:
                return _JPath(root, tuple(steps))

    def name(self) -> str:
        out: list[str] = []
        while True:
            c = self.peek()
            if c == "\\":
                if not self.peek(1):
                    self.fail("dangling '\\' in field name")
                out.append(self.peek(1))
                self.pos += 2
            elif c and c not in _NAME_STOP:
                out.append(c)
                self.pos += 1
            else:
                return "".join(out)

    def bracket(self) -> _JStep:
        start = self.pos
        self.expect("[")
        self.skip_ws()
        c = self.peek()
        if c == "*":
            self.pos += 1
            self.skip_ws()
            self.expect("]")
            return _JWildcard()
        if c == "?":
            self.pos += 1
            self.skip_ws()
            self.expect("(")
            cond = self.cond_or()
            self.skip_ws()
            self.expect(")")
            self.skip_ws()
            self.expect("]")
            return _JFilter(cond)
        if c in ("\"", "'"):
            keys: list[int | str] = []
            while True:
                self.skip_ws()
                if self.peek() not in ("\"", "'"):
                    self.fail("expected a quoted key")
                keys.append(self.string())
                self.skip_ws()
                if self.peek() == ",":
                    self.pos += 1
                    continue
                self.expect("]")
                return _JField(str(keys[0])) if len(keys) == 1 else _JUnion(tuple(keys))
        close = self.text.find("]", self.pos)
        if close < 0:
            self.fail("unclosed '['", start)
        content = self.text[self.pos : close]
        self.pos = close + 1
        return self.index_spec(content, start)

    def index_spec(self, content: str, start: int) -> _JStep:
        if not content.strip():
            self.fail("empty '[]'", start)
        parts = content.split(",")
        if len(parts) > 1:
            idx: list[int | str] = []
            for p in parts:
                m = re.fullmatch(r"\s*(-?[0-9]+)\s*", p)
                if m is None:
                    self.fail(f"invalid array index {p.strip()!r}", start)
                idx.append(int(m.group(1)))
            return _JUnion(tuple(idx))
        pieces = content.split(":")
        if len(pieces) > 3:
            self.fail(f"invalid array slice {content!r}", start)
        nums: list[int | None] = []
        for p in pieces:
            m = _INT_RE.fullmatch(p)
            if m is None:
                self.fail(f"invalid array index {content.strip()!r}", start)
            nums.append(int(m.group(1)) if m.group(1) is not None else None)
        if len(pieces) == 1:
            if nums[0] is None:
                self.fail(f"invalid array index {content!r}", start)
            return _JSlice(nums[0], None, None, True)
        step = nums[2] if len(nums) == 3 else None
        if step == 0:
            self.fail("array slice step cannot be 0", start)
        return _JSlice(nums[0], nums[1], step, False)

    # -- filter expressions ------------------------------------------------

    def cond_or(self) -> _JCond:
        left = self.cond_and()
        while True:
            self.skip_ws()
            if not self.text.startswith("||", self.pos):
                return left
            self.pos += 2
            left = _JBool("||", left, self.cond_and())

    def cond_and(self) -> _JCond:
        left = self.cond_cmp()
        while True:
            self.skip_ws()
            if not self.text.startswith("&&", self.pos):
                return left
            self.pos += 2
            left = _JBool("&&", left, self.cond_cmp())

    def cond_cmp(self) -> _JCond:
        self.skip_ws()
        if self.peek() == "(":
            self.pos += 1
            inner = self.cond_or()
            self.skip_ws()
            self.expect(")")
            return inner
        left = self.operand()
        self.skip_ws()
        for op in ("==", "!=", "<=", ">=", "<", ">"):
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                self.skip_ws()
                return _JCmp(left, op, self.operand())
        if self.peek() == "=":
            self.fail("use '==' to compare")
        return _JCmp(left)

    def operand(self) -> _JPath | _JLiteral:
        c = self.peek()
        if c in ("@", "$", "."):
            return self.path()
        if c in ("\"", "'"):
            return _JLiteral(self.string())
        m = _JNUM_RE.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            s = m.group(0)
            return _JLiteral(float(s) if any(ch in s for ch in ".eE") else int(s))
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return _JLiteral(value)
        found = repr(c) if c else "end of template"
        self.fail(f"expected a filter operand (@.path, string, number), found {found}")


def _parse_jsonpath(template: str) -> list[_JNode]:
    return _JPParser(template).template()


# -- evaluation -------------------------------------------------------------


def _children(v: Any) -> Iterator[Any]:
    if isinstance(v, Mapping):
        yield from v.values()
    elif isinstance(v, (list, tuple)):
        yield from v


def _descendants(v: Any) -> Iterator[Any]:
    yield v
    for c in _children(v):
        yield from _descendants(c)


def _index(seq: Sequence[Any], i: int) -> list[Any]:
    if i < 0:
        i += len(seq)
    return [seq[i]] if 0 <= i < len(seq) else []


def _apply_step(step: _JStep, values: list[Any], root: Any) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if isinstance(step, _JField):
            if isinstance(v, Mapping) and step.name in v:
                out.append(v[step.name])
        elif isinstance(step, _JWildcard):
            out.extend(_children(v))
        elif isinstance(step, _JRecursive):
            out.extend(_descendants(v))
        elif isinstance(step, _JSlice):
            if isinstance(v, (list, tuple)):
                if step.single:
                    assert step.start is not None
                    out.extend(_index(v, step.start))
                else:
                    out.extend(v[step.start : step.end : step.step])
        elif isinstance(step, _JUnion):
            for k in step.keys:
                if isinstance(k, int) and isinstance(v, (list, tuple)):
                    out.extend(_index(v, k))
                elif isinstance(k, str) and isinstance(v, Mapping) and k in v:
                    out.append(v[k])
        elif isinstance(step, _JFilter):
            if isinstance(v, (list, tuple)):
                out.extend(el for el in v if _eval_cond(step.cond, el, root))
    return [x for x in out if x is not None]  # null behaves as missing


def _eval_path(path: _JPath, current: Any, root: Any) -> list[Any]:
    values = [root if path.root == "$" else current]
    values = [v for v in values if v is not None]
    for step in path.steps:
        values = _apply_step(step, values, root)
    return values


def _operand_values(op: _JPath | _JLiteral, current: Any, root: Any) -> list[Any]:
    if isinstance(op, _JLiteral):
        return [op.value]
    return _eval_path(op, current, root)


def _compare(a: Any, op: str, b: Any) -> bool:
    comparable = (_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str))
    if op in ("==", "!="):
        equal = (a == b) if comparable else (type(a) is type(b) and a == b)
        return equal if op == "==" else not equal
    if not comparable:
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _eval_cond(cond: _JCond, current: Any, root: Any) -> bool:
    if isinstance(cond, _JBool):
        if cond.op == "&&":
            return _eval_cond(cond.left, current, root) and _eval_cond(cond.right, current, root)
        return _eval_cond(cond.left, current, root) or _eval_cond(cond.right, current, root)
    lefts = _operand_values(cond.left, current, root)
    if cond.op is None or cond.right is None:
        if isinstance(cond.left, _JLiteral):
            return bool(cond.left.value)
        return bool(lefts)
    rights = _operand_values(cond.right, current, root)
    if not lefts or not rights:
        return False
    return _compare(lefts[0], cond.op, rights[0])


def _jp_text(v: Any) -> str:
    if isinstance(v, (Mapping, list, tuple)):
        return _go_json(v)
    return go_sprint(v)


def _render(nodes: list[_JNode], current: Any, root: Any, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, _JText):
            out.append(node.text)
        elif isinstance(node, _JExpr):
            out.append(" ".join(_jp_text(v) for v in _eval_path(node.path, current, root)))
        else:
            for item in _eval_path(node.path, current, root):
                _render(node.body, item, root, out)


def jsonpath(template: str, obj: Any) -> str:
    """Render a kubectl JSONPath template against `obj`.

    >>> jsonpath('{.items[*].metadata.name}', {"items": [{"metadata": {"name": "a"}}]})
    'a'
    """
    nodes = _parse_jsonpath(template)
    out: list[str] = []
    _render(nodes, obj, obj, out)
    return "".join(out)


def _collect(nodes: list[_JNode], current: Any, root: Any, out: list[Any]) -> None:
    for node in nodes:
        if isinstance(node, _JExpr):
            out.extend(_eval_path(node.path, current, root))
        elif isinstance(node, _JRange):
            for item in _eval_path(node.path, current, root):
                _collect(node.body, item, root, out)


def jsonpath_values(template: str, obj: Any) -> list[Any]:
    """The raw values a template's expressions select, in output order (text
    and string literals are skipped).  A bare path such as ``.a.b`` is
    accepted too.  For ``-o jsonpath-as-json`` and ``--sort-by``."""
    if "{" not in template:
        template = relaxed_jsonpath(template)
    out: list[Any] = []
    _collect(_parse_jsonpath(template), obj, obj, out)
    return out


# ==========================================================================
# custom-columns
# ==========================================================================

_RELAXED_RE = re.compile(r"^\{\.?([^{}]+)\}$|^\.?([^{}]+)$")


def relaxed_jsonpath(expr: str) -> str:
    """kubectl's RelaxedJSONPathExpression: ``a.b``, ``.a.b``, ``{a.b}`` and
    ``{.a.b}`` all become ``{.a.b}``."""
    m = _RELAXED_RE.match(expr)
    if m is None:
        raise JSONPathError(
            f"unexpected path string {expr!r}, expected a 'name1.name2' or "
            "'.name1.name2' or '{name1.name2}' or '{.name1.name2}'"
        )
    spec = m.group(1) if m.group(1) is not None else m.group(2)
    if spec.startswith(("[", "$", "@")):
        return "{" + spec + "}"
    return "{." + spec + "}"


def _split_top_level(spec: str) -> list[str]:
    """Split on commas outside brackets, parentheses and quotes."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    i = 0
    while i < len(spec):
        c = spec[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "[(":
            depth += 1
        elif c in "])":
            depth -= 1
        elif c == "," and depth <= 0:
            parts.append(spec[start:i])
            start = i + 1
        i += 1
    parts.append(spec[start:])
    return parts


def _parse_columns(spec: str) -> list[tuple[str, _JPath]]:
    columns: list[tuple[str, _JPath]] = []
    for part in _split_top_level(spec):
        header, sep, expr = part.partition(":")
        if not sep or not header or not expr:
            raise JSONPathError(
                f"unexpected custom-columns spec: {part!r}, expected <header>:<json-path-expr>"
            )
        nodes = _parse_jsonpath(relaxed_jsonpath(expr))
        if len(nodes) != 1 or not isinstance(nodes[0], _JExpr):
            raise JSONPathError(f"custom-columns path {expr!r} must be a single expression")
        columns.append((header, nodes[0].path))
    return columns


def custom_columns(
    spec: str, objs: Sequence[Any]
) -> tuple[list[str], list[list[str]]]:
    """kubectl ``-o custom-columns=NAME:.metadata.name,...``: (headers, rows)."""
    if not spec.strip():
        raise JSONPathError("custom-columns format specified but no custom columns given")
    columns = _parse_columns(spec)
    headers = [h for h, _ in columns]
    rows: list[list[str]] = []
    for obj in objs:
        row: list[str] = []
        for _, path in columns:
            values = _eval_path(path, obj, obj)
            row.append(",".join(go_sprint(v) for v in values) if values else "<none>")
        rows.append(row)
    return headers, rows


def format_columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Align a table as kubectl's tabwriter does (min width 10, padding 3)."""
    table = [list(headers), *[list(r) for r in rows]]
    ncols = max(len(r) for r in table)
    widths = [
        max(10, max((len(r[i]) + 3 for r in table if i < len(r)), default=0))
        for i in range(ncols)
    ]
    lines = []
    for r in table:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        lines.append("".join(cells))
    return "\n".join(lines) + "\n"


# ==========================================================================
# Go templates
# ==========================================================================


class _Missing:
    """Go's invalid reflect.Value: a map key that is not there."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Any = _Missing()
_NOFINAL: Any = object()  # no piped-in value

# -- lexer --------------------------------------------------------------------

_T_FIELD, _T_DOT, _T_VAR, _T_IDENT, _T_STRING, _T_NUMBER = (
    "field", "dot", "variable", "identifier", "string", "number",
)
_T_LPAREN, _T_RPAREN, _T_PIPE, _T_COMMA, _T_DECLARE, _T_ASSIGN = "(", ")", "|", ",", ":=", "="
_WS = " \t\r\n"
_GNUM_RE = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+"
    r"|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]+)?)"
)


@dataclass(frozen=True)
class _GTok:
    kind: str
    value: Any
    line: int
    space: bool  # whitespace before this token


@dataclass
class _GText:
    text: str


@dataclass
class _GAction:
    tokens: list[_GTok]
    line: int


def _is_alnum(c: str) -> bool:
    return c == "_" or c.isalnum()


class _GLexer:
    def __init__(self, text: str) -> None:
        self.text = text

    def line_at(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def fail(self, msg: str, pos: int) -> NoReturn:
        raise TemplateError(f"template: output:{self.line_at(pos)}: {msg}")

    def segments(self) -> list[_GText | _GAction]:
        t = self.text
        n = len(t)
        segs: list[_GText | _GAction] = []
        i = 0
        trim_next = False
        while True:
            j = t.find("{{", i)
            text = t[i:] if j < 0 else t[i:j]
            if trim_next:
                text = text.lstrip(_WS)
            if j < 0:
                if text:
                    segs.append(_GText(text))
                return segs
            k = j + 2
            if k + 1 < n and t[k] == "-" and t[k + 1] in _WS:
                text = text.rstrip(_WS)
                k += 2
            if text:
                segs.append(_GText(text))
            # comments: {{/* ... */}}
            m = k
            while m < n and t[m] in _WS:
                m += 1
            if t.startswith("/*", m):
                end = t.find("*/", m + 2)
                if end < 0:
                    self.fail("unclosed comment", j)
                k = end + 2
                if t.startswith("}}", k):
                    i, trim_next = k + 2, False
                    continue
                m = k
                while m < n and t[m] in _WS:
                    m += 1
                if m > k and t.startswith("-}}", m):
                    i, trim_next = m + 3, True
                    continue
                self.fail("comment ends before closing delimiter", j)
            tokens, i, trim_next = self.action(k, j)
            segs.append(_GAction(tokens, self.line_at(j)))

    def action(self, k: int, start: int) -> tuple[list[_GTok], int, bool]:
        t = self.text
        n = len(t)
        toks: list[_GTok] = []
        space = False
        depth = 0
        while True:
            if k >= n:
                self.fail("unclosed action", start)
            c = t[k]
            if t.startswith("}}", k):
                if depth:
                    self.fail("unclosed left paren", start)
                return toks, k + 2, False
            line = self.line_at(k)
            if c in _WS:
                m = k
                while m < n and t[m] in _WS:
                    m += 1
                if t.startswith("-}}", m):
                    if depth:
                        self.fail("unclosed left paren", start)
                    return toks, m + 3, True
                space, k = True, m
                continue
            nxt = t[k + 1] if k + 1 < n else ""
            if c in "\"`'":
                k, tok = self.quoted(k, line, space)
            elif c == "." and not nxt.isdigit():
                m = k + 1
                while m < n and _is_alnum(t[m]):
                    m += 1
                tok = _GTok(_T_FIELD, t[k + 1 : m], line, space) if m > k + 1 else _GTok(
                    _T_DOT, ".", line, space
                )
                k = m
            elif c == "$":
                m = k + 1
                while m < n and _is_alnum(t[m]):
                    m += 1
                tok = _GTok(_T_VAR, t[k:m], line, space)
                k = m
            elif c.isdigit() or c == "." or (c in "+-" and (nxt.isdigit() or nxt == ".")):
                m_num = _GNUM_RE.match(t, k)
                if m_num is None or (m_num.end() < n and _is_alnum(t[m_num.end()])):
                    end = m_num.end() if m_num else k + 1
                    while end < n and _is_alnum(t[end]):
                        end += 1
                    self.fail(f"bad number syntax: {t[k:end]!r}", k)
                tok = _GTok(_T_NUMBER, self.number(m_num.group(0), k), line, space)
                k = m_num.end()
            elif c.isalpha() or c == "_":
                m = k
                while m < n and _is_alnum(t[m]):
                    m += 1
                tok = _GTok(_T_IDENT, t[k:m], line, space)
                k = m
            elif c == ":" and nxt == "=":
                tok = _GTok(_T_DECLARE, ":=", line, space)
                k += 2
            elif c in "()|,=":
                depth += 1 if c == "(" else -1 if c == ")" else 0
                if depth < 0:
                    self.fail("unexpected right paren", k)
                tok = _GTok(c, c, line, space)
                k += 1
            else:
                self.fail(f"unexpected {c!r} in command", k)
            toks.append(tok)
            space = False

    def quoted(self, k: int, line: int, space: bool) -> tuple[int, _GTok]:
        t = self.text
        c = t[k]
        if c == "`":
            end = t.find("`", k + 1)
            if end < 0:
                self.fail("unterminated raw quoted string", k)
            return end + 1, _GTok(_T_STRING, t[k + 1 : end], line, space)
        try:
            value, end = _scan_quoted(t, k)
        except ValueError as e:
            self.fail(str(e), k)
        if c == "'":
            if len(value) != 1:
                self.fail(f"malformed character constant: {t[k:end]}", k)
            return end, _GTok(_T_NUMBER, ord(value), line, space)
        return end, _GTok(_T_STRING, value, line, space)

    def number(self, s: str, pos: int) -> int | float:
        clean = s.replace("_", "")
        try:
            if re.fullmatch(r"[+-]?0[xXoObB].*", clean):
                return int(clean, 0)
            if re.fullmatch(r"[+-]?[0-9]+", clean):
                return int(clean, 10)
            return float(clean)
        except ValueError:
            self.fail(f"bad number syntax: {s!r}", pos)


# -- AST ---------------------------------------------------------------------


@dataclass
class _GDot:
    pass


@dataclass
class _GNil:
    pass


@dataclass
class _GLiteral:
    value: Any


@dataclass
class _GFieldRef:
    names: list[str]


@dataclass
class _GVarRef:
    name: str
    names: list[str]


@dataclass
class _GIdent:
    name: str


@dataclass
class _GChain:
    node: _GPipe
    names: list[str]


_GArg = Union[_GDot, _GNil, _GLiteral, _GFieldRef, _GVarRef, _GIdent, _GChain]


@dataclass
class _GCommand:
    args: list[_GArg]


@dataclass
class _GPipe:
    decl: list[str]
    assign: bool
    cmds: list[_GCommand]
    line: int


@dataclass
class _GTextNode:
    text: str


@dataclass
class _GActionNode:
    pipe: _GPipe


@dataclass
class _GBranch:
    """if / with / range."""

    kind: str
    pipe: _GPipe
    body: list[_GNodeT] = field(default_factory=list)
    else_: list[_GNodeT] | None = None


@dataclass
class _GLoopCtl:
    kind: str  # break / continue
    line: int


_GNodeT = Union[_GTextNode, _GActionNode, _GBranch, _GLoopCtl]

_KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)


class _GCmdParser:
    """Parses the tokens of one action into a pipeline."""

    def __init__(self, toks: list[_GTok], line: int, funcs: Mapping[str, Any]) -> None:
        self.toks = toks
        self.i = 0
        self.line = line
        self.funcs = funcs

    def fail(self, msg: str) -> NoReturn:
        raise TemplateError(f"template: output:{self.line}: {msg}")

    def peek(self) -> _GTok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def pipeline(self, context: str, max_vars: int, end: str | None = None) -> _GPipe:
        decl: list[str] = []
        assign = False
        t = self.toks
        i = self.i
        if i < len(t) and t[i].kind == _T_VAR:
            if i + 1 < len(t) and t[i + 1].kind in (_T_DECLARE, _T_ASSIGN):
                decl, assign = [t[i].value], t[i + 1].kind == _T_ASSIGN
                self.i += 2
            elif (
                i + 3 < len(t) and t[i + 1].kind == _T_COMMA and t[i + 2].kind == _T_VAR
                and t[i + 3].kind in (_T_DECLARE, _T_ASSIGN)
            ):
                if max_vars < 2:
                    self.fail(f"too many declarations in {context}")
                decl, assign = [t[i].value, t[i + 2].value], t[i + 3].kind == _T_ASSIGN
                self.i += 4
        cmds: list[_GCommand] = []
        while True:
            cmds.append(self.command(context))
            tok = self.peek()
            if tok is None or tok.kind == end:
                break
            if tok.kind != _T_PIPE:
                self.fail(f"unexpected {tok.value!r} in {context}")
            self.i += 1
        return _GPipe(decl, assign, cmds, self.line)

    def command(self, context: str) -> _GCommand:
        args: list[_GArg] = []
        while True:
            tok = self.peek()
            if tok is None or tok.kind in (_T_PIPE, _T_RPAREN):
                break
            if args and not tok.space and tok.kind != _T_LPAREN:
                self.fail(f"missing space before {tok.value!r}")
            args.append(self.operand())
        if not args:
            self.fail(f"missing value for {context}")
        return _GCommand(args)

    def chain(self) -> list[str]:
        names: list[str] = []
        while (tok := self.peek()) is not None and tok.kind == _T_FIELD and not tok.space:
            names.append(tok.value)
            self.i += 1
        return names

    def operand(self) -> _GArg:
        tok = self.toks[self.i]
        self.i += 1
        node: _GArg
        if tok.kind == _T_FIELD:
            node = _GFieldRef([tok.value, *self.chain()])
        elif tok.kind == _T_DOT:
            node = _GDot()
        elif tok.kind == _T_VAR:
            node = _GVarRef(tok.value, self.chain())
        elif tok.kind == _T_STRING or tok.kind == _T_NUMBER:
            node = _GLiteral(tok.value)
        elif tok.kind == _T_IDENT:
            name = tok.value
            if name in ("true", "false"):
                node = _GLiteral(name == "true")
            elif name == "nil":
                node = _GNil()
            elif name in _KEYWORDS:
                self.fail(f"unexpected {name!r} in operand")
            elif name not in self.funcs:
                self.fail(f'function "{name}" not defined')
            else:
                node = _GIdent(name)
        elif tok.kind == _T_LPAREN:
            inner = self.pipeline("parenthesized pipeline", 1, end=_T_RPAREN)
            closing = self.peek()
            if closing is None or closing.kind != _T_RPAREN:
                self.fail("unclosed left paren")
            self.i += 1
            node = _GChain(inner, self.chain())
        else:
            self.fail(f"unexpected {tok.value!r} in operand")
        if isinstance(node, (_GLiteral, _GNil, _GIdent, _GDot)):
            nxt = self.peek()
            if nxt is not None and nxt.kind == _T_FIELD and not nxt.space:
                self.fail(f"unexpected .{nxt.value} after {tok.value!r}")
        return node


@dataclass
class _Frame:
    node: _GBranch
    line: int
    chained: bool = False

    @property
    def out(self) -> list[_GNodeT]:
        return self.node.else_ if self.node.else_ is not None else self.node.body


def _parse_go_template(text: str, funcs: Mapping[str, Any]) -> list[_GNodeT]:
    root: list[_GNodeT] = []
    frames: list[_Frame] = []

    def out() -> list[_GNodeT]:
        return frames[-1].out if frames else root

    for seg in _GLexer(text).segments():
        if isinstance(seg, _GText):
            out().append(_GTextNode(seg.text))
            continue
        toks, line = seg.tokens, seg.line
        p = _GCmdParser(toks, line, funcs)
        first = toks[0] if toks else None
        word = first.value if first is not None and first.kind == _T_IDENT else None
        if word in ("if", "with", "range"):
            p.i = 1
            node = _GBranch(word, p.pipeline(word, 2 if word == "range" else 1))
            out().append(node)
            frames.append(_Frame(node, line))
        elif word == "else":
            if not frames or frames[-1].node.else_ is not None:
                p.fail("unexpected {{else}}")
            frame = frames[-1]
            frame.node.else_ = []
            if len(toks) > 1:
                sub = toks[1].value if toks[1].kind == _T_IDENT else None
                if sub not in ("if", "with"):
                    p.fail("unexpected tokens after {{else}}")
                assert sub is not None
                p.i = 2
                node = _GBranch(sub, p.pipeline(sub, 1))
                frame.node.else_.append(node)
                frames.append(_Frame(node, line, chained=True))
        elif word == "end":
            if len(toks) > 1:
                p.fail("unexpected tokens after {{end}}")
            if not frames:
                p.fail("unexpected {{end}}")
            while frames.pop().chained:
                pass
        elif word in ("break", "continue"):
            if len(toks) > 1:
                p.fail(f"unexpected tokens after {{{{{word}}}}}")
            if not any(f.node.kind == "range" for f in frames):
                p.fail(f"{{{{{word}}}}} outside {{{{range}}}}")
            out().append(_GLoopCtl(word, line))
        elif word in ("define", "template", "block"):
            p.fail(f"{{{{{word}}}}} is not supported")
        else:
            if first is None:
                p.fail("missing value for command")
            pipe = p.pipeline("command", 1)
            if p.peek() is not None:
                p.fail(f"unexpected {p.peek()!r}")
            out().append(_GActionNode(pipe))
    if frames:
        f = frames[0]
        raise TemplateError(f"template: output:{f.line}: unexpected EOF: {{{{{f.node.kind}}}}} has no {{{{end}}}}")
    return root


# -- functions -----------------------------------------------------------------


class _FuncError(Exception):
    pass


def _truth(v: Any) -> bool:
    if v is MISSING or v is None:
        return False
    if isinstance(v, bool):
        return v
    if _is_num(v):
        return bool(v != 0)
    if isinstance(v, (str, Mapping, list, tuple)):
        return len(v) > 0
    return True


def _arity(args: list[Any], n: int) -> None:
    if len(args) != n:
        raise _FuncError(f"wrong number of args: want {n} got {len(args)}")


def _f_len(args: list[Any]) -> Any:
    _arity(args, 1)
    x = args[0]
    if isinstance(x, (str, Mapping, list, tuple)):
        return len(x.encode() if isinstance(x, str) else x)
    raise _FuncError(f"len of {'nil pointer' if x is None else 'type ' + _go_type(x)}")


def _f_index(args: list[Any]) -> Any:
    if not args:
        raise _FuncError("wrong number of args: want at least 1 got 0")
    item = args[0]
    for k in args[1:]:
        if item is None:
            raise _FuncError("index of untyped nil")
        if isinstance(item, (list, tuple, str)):
            if not isinstance(k, int) or isinstance(k, bool):
                raise _FuncError(f"cannot index slice/array with type {_go_type(k)}")
            seq: Sequence[Any] = item.encode() if isinstance(item, str) else item
            if not 0 <= k < len(seq):
                raise _FuncError(f"index out of range: {k}")
            item = seq[k]
        elif isinstance(item, Mapping):
            if not isinstance(k, str):
                raise _FuncError(f"value has type {_go_type(k)}; should be string")
            item = item.get(k)  # a missing key gives the zero value (nil)
        else:
            raise _FuncError(f"can't index item of type {_go_type(item)}")
    return item


def _f_slice(args: list[Any]) -> Any:
    if not args or len(args) > 3:
        raise _FuncError(f"wrong number of args: want 1 to 3 got {len(args)}")
    item = args[0]
    if not isinstance(item, (list, tuple, str)):
        raise _FuncError(f"can't slice item of type {_go_type(item)}")
    idx = args[1:]
    if any(not isinstance(x, int) or isinstance(x, bool) for x in idx):
        raise _FuncError("cannot index slice/array with non-integer")
    lo = idx[0] if idx else 0
    hi = idx[1] if len(idx) > 1 else len(item)
    if not 0 <= lo <= hi <= len(item):
        raise _FuncError(f"index out of range: {lo}:{hi}")
    return item[lo:hi]


def _f_not(args: list[Any]) -> Any:
    _arity(args, 1)
    return not _truth(args[0])


def _basic(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if _is_num(v):
        return "number"
    if isinstance(v, str):
        return "string"
    raise _FuncError(f"non-comparable type {_go_type(v)}")


def _equal(a: Any, b: Any) -> bool:
    ka, kb = _basic(a), _basic(b)
    if "nil" in (ka, kb):
        return ka == kb
    if ka != kb:
        raise _FuncError("incompatible types for comparison")
    return bool(a == b)


def _f_eq(args: list[Any]) -> Any:
    if len(args) < 2:
        raise _FuncError("missing argument for comparison")
    return any(_equal(args[0], b) for b in args[1:])


def _f_ne(args: list[Any]) -> Any:
    _arity(args, 2)
    return not _equal(args[0], args[1])


def _less(a: Any, b: Any) -> bool:
    ka, kb = _basic(a), _basic(b)
    if ka not in ("number", "string") or kb not in ("number", "string"):
        raise _FuncError("invalid type for comparison")
    if ka != kb:
        raise _FuncError("incompatible types for comparison")
    return bool(a < b)


def _f_lt(args: list[Any]) -> Any:
    _arity(args, 2)
    return _less(args[0], args[1])


def _f_le(args: list[Any]) -> Any:
    _arity(args, 2)
    return _less(args[0], args[1]) or _equal(args[0], args[1])


def _f_gt(args: list[Any]) -> Any:
    _arity(args, 2)
    return not (_less(args[0], args[1]) or _equal(args[0], args[1]))


def _f_ge(args: list[Any]) -> Any:
    _arity(args, 2)
    return not _less(args[0], args[1])


def _f_print(args: list[Any]) -> Any:
    out: list[str] = []
    for i, a in enumerate(args):
        if i > 0 and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_sprint(a))
    return "".join(out)


def _f_println(args: list[Any]) -> Any:
    return " ".join(go_sprint(a) for a in args) + "\n"


def _f_printf(args: list[Any]) -> Any:
    if not args or not isinstance(args[0], str):
        raise _FuncError("printf needs a format string")
    return go_sprintf(args[0], args[1:])


def _f_base64decode(args: list[Any]) -> Any:
    _arity(args, 1)
    if not isinstance(args[0], str):
        raise _FuncError(f"base64decode of type {_go_type(args[0])}")
    try:
        raw = base64.b64decode(args[0], validate=True)
    except (binascii.Error, ValueError) as e:
        raise _FuncError(f"base64decode: {e}") from None
    return raw.decode("utf-8", errors="replace")


_FUNCS: dict[str, Callable[[list[Any]], Any]] = {
    "len": _f_len, "index": _f_index, "slice": _f_slice, "not": _f_not,
    "eq": _f_eq, "ne": _f_ne, "lt": _f_lt, "le": _f_le, "gt": _f_gt, "ge": _f_ge,
    "print": _f_print, "println": _f_println, "printf": _f_printf,
    "base64decode": _f_base64decode,
}
_LAZY_FUNCS = frozenset({"and", "or"})
_ALL_FUNCS: dict[str, Any] = {**_FUNCS, "and": None, "or": None}


# -- printf -----------------------------------------------------------------

_FMT_RE = re.compile(r"%([-+# 0]*)(\*|[0-9]+)?(?:\.(\*|[0-9]*))?(.?)", re.DOTALL)


def _go_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _pad(s: str, flags: str, width: int | None, numeric: bool) -> str:
    if width is None or len(s) >= width:
        return s
    if "-" in flags:
        return s.ljust(width)
    if "0" in flags and numeric:
        sign = s[0] if s[:1] in ("-", "+", " ") else ""
        return sign + s[len(sign) :].rjust(width - len(sign), "0")
    return s.rjust(width)


def _sign(s: str, flags: str) -> str:
    if not s.startswith("-"):
        if "+" in flags:
            return "+" + s
        if " " in flags:
            return " " + s
    return s


def _fmt_one(a: Any, flags: str, width: int | None, prec: int | None, verb: str) -> str:
    def bad() -> str:
        if a is None:
            return f"%!{verb}(<nil>)"
        return f"%!{verb}({_go_type(a)}={go_sprint(a)})"

    if verb == "v":
        return _pad(go_sprint(a), flags, width, False)
    if verb == "s":
        if isinstance(a, str):
            s = a if prec is None else a[:prec]
        elif isinstance(a, (Mapping, list, tuple)):
            s = go_sprint(a)
        else:
            return bad()
        return _pad(s, flags, width, False)
    if verb == "q":
        if isinstance(a, str):
            return _pad(_go_quote(a), flags, width, False)
        if isinstance(a, int) and not isinstance(a, bool):
            return _pad("'" + chr(a) + "'", flags, width, False)
        return bad()
    if verb == "t":
        return _pad(go_sprint(a), flags, width, False) if isinstance(a, bool) else bad()
    if verb in "dboxXcU":
        if isinstance(a, str) and verb in "xX":
            s = a.encode().hex()
            return _pad(s.upper() if verb == "X" else s, flags, width, False)
        if not isinstance(a, int) or isinstance(a, bool):
            return bad()
        if verb == "c":
            return _pad(chr(a), flags, width, False)
        if verb == "U":
            return _pad(f"U+{a:04X}", flags, width, False)
        base = {"d": "d", "b": "b", "o": "o", "x": "x", "X": "X"}[verb]
        s = format(a, base)
        if "#" in flags and verb in "boxX":
            prefix = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}[verb]
            s = ("-" if a < 0 else "") + prefix + s.lstrip("-")
        if prec is not None:
            neg = s.startswith("-")
            s = ("-" if neg else "") + s.lstrip("-").rjust(prec, "0")
        return _pad(_sign(s, flags), flags, width, prec is None)
    if verb in "eEfFgG":
        if not _is_num(a):
            return bad()
        f = float(a)
        if verb in "gG" and prec is None:
            s = _go_float(f)
            s = s.upper() if verb == "G" else s
        else:
            s = format(f, f"{'.' + str(6 if prec is None else prec)}{verb}")
        return _pad(_sign(s, flags), flags, width, True)
    return bad()


def go_sprintf(fmt: str, args: Sequence[Any]) -> str:
    """A subset of Go's ``fmt.Sprintf`` (verbs v s q d b o x X c U e f g t)."""
    out: list[str] = []
    argi = 0
    i = 0
    while i < len(fmt):
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        m = _FMT_RE.match(fmt, j)
        assert m is not None
        flags, width_s, prec_s, verb = m.groups()
        i = m.end()
        if not verb:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        width: int | None = None
        prec: int | None = None
        if width_s == "*":
            if argi < len(args) and isinstance(args[argi], int):
                width = args[argi]
            argi += 1
        elif width_s:
            width = int(width_s)
        if prec_s == "*":
            if argi < len(args) and isinstance(args[argi], int):
                prec = args[argi]
            argi += 1
        elif prec_s is not None:
            prec = int(prec_s) if prec_s else 0
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_fmt_one(args[argi], flags, width, prec, verb))
        argi += 1
    if argi < len(args):
        extra = ", ".join(
            "<nil>" if a is None else f"{_go_type(a)}={go_sprint(a)}" for a in args[argi:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# -- execution ---------------------------------------------------------------


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _GExec:
    def __init__(self, root: Any) -> None:
        self.vars: list[tuple[str, Any]] = [("$", root)]
        self.out: list[str] = []

    def fail(self, line: int, msg: str) -> NoReturn:
        raise TemplateError(f"template: output:{line}: {msg}")

    def walk(self, dot: Any, nodes: list[_GNodeT]) -> None:
        for node in nodes:
            if isinstance(node, _GTextNode):
                self.out.append(node.text)
            elif isinstance(node, _GActionNode):
                val = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.out.append(self.printable(val))
            elif isinstance(node, _GLoopCtl):
                raise _Break() if node.kind == "break" else _Continue()
            elif node.kind == "range":
                self.walk_range(dot, node)
            else:
                mark = len(self.vars)
                val = self.pipeline(dot, node.pipe)
                if _truth(val):
                    self.walk(val if node.kind == "with" else dot, node.body)
                elif node.else_ is not None:
                    self.walk(dot, node.else_)
                del self.vars[mark:]

    def walk_range(self, dot: Any, node: _GBranch) -> None:
        val = self.pipeline(dot, node.pipe, declare=False)
        items: list[tuple[Any, Any]]
        if isinstance(val, (list, tuple)):
            items = list(enumerate(val))
        elif isinstance(val, Mapping):
            items = [(k, val[k]) for k in sorted(val)]
        elif isinstance(val, int) and not isinstance(val, bool):
            items = [(i, i) for i in range(val)]
        elif val is MISSING or val is None:
            items = []
        else:
            self.fail(node.pipe.line, f"range can't iterate over {go_sprint(val)}")
        mark = len(self.vars)
        decl = node.pipe.decl
        for k, v in items:
            del self.vars[mark:]
            if len(decl) == 1:
                self.vars.append((decl[0], v))
            elif len(decl) == 2:
                self.vars.extend([(decl[0], k), (decl[1], v)])
            try:
                self.walk(v, node.body)
            except _Break:
                break
            except _Continue:
                continue
        del self.vars[mark:]
        if not items and node.else_ is not None:
            self.walk(dot, node.else_)
            del self.vars[mark:]

    @staticmethod
    def printable(v: Any) -> str:
        if v is MISSING or v is None:
            return "<no value>"
        return go_sprint(v)

    def lookup(self, name: str, line: int) -> Any:
        for n, v in reversed(self.vars):
            if n == name:
                return v
        self.fail(line, f"undefined variable: {name}")

    def pipeline(self, dot: Any, pipe: _GPipe, declare: bool = True) -> Any:
        val = _NOFINAL
        for cmd in pipe.cmds:
            val = self.command(dot, cmd, val, pipe.line)
        if declare and pipe.decl:
            name = pipe.decl[0]
            if pipe.assign:
                for idx in range(len(self.vars) - 1, -1, -1):
                    if self.vars[idx][0] == name:
                        self.vars[idx] = (name, val)
                        break
                else:
                    self.fail(pipe.line, f"undefined variable: {name}")
            else:
                self.vars.append((name, val))
        return val

    def command(self, dot: Any, cmd: _GCommand, final: Any, line: int) -> Any:
        first = cmd.args[0]
        if isinstance(first, _GIdent):
            return self.call(first.name, dot, cmd.args[1:], final, line)
        if len(cmd.args) > 1 or final is not _NOFINAL:
            self.fail(line, "can't give argument to non-function")
        if isinstance(first, _GNil):
            self.fail(line, "nil is not a command")
        return self.arg(dot, first, line)

    def arg(self, dot: Any, node: _GArg, line: int) -> Any:
        if isinstance(node, _GDot):
            return dot
        if isinstance(node, _GLiteral):
            return node.value
        if isinstance(node, _GNil):
            return None
        if isinstance(node, _GFieldRef):
            return self.fields(dot, node.names, line)
        if isinstance(node, _GVarRef):
            return self.fields(self.lookup(node.name, line), node.names, line)
        if isinstance(node, _GIdent):
            return self.call(node.name, dot, [], _NOFINAL, line)
        return self.fields(self.pipeline(dot, node.node, declare=False), node.names, line)

    def fields(self, receiver: Any, names: list[str], line: int) -> Any:
        for name in names:
            if receiver is MISSING:
                return MISSING
            if receiver is None:
                self.fail(line, f"nil pointer evaluating interface {{}}.{name}")
            if not isinstance(receiver, Mapping):
                self.fail(line, f"can't evaluate field {name} in type {_go_type(receiver)}")
            receiver = receiver.get(name, MISSING)
        return receiver

    def call(self, name: str, dot: Any, nodes: list[_GArg], final: Any, line: int) -> Any:
        if name in _LAZY_FUNCS:  # and/or: evaluate arguments only as needed
            count = len(nodes) + (final is not _NOFINAL)
            if count == 0:
                self.fail(line, f"error calling {name}: wrong number of args: want at least 1 got 0")
            val: Any = MISSING
            for i in range(count):
                val = self.arg(dot, nodes[i], line) if i < len(nodes) else final
                if _truth(val) == (name == "or"):
                    return val
            return val
        args = [self.arg(dot, n, line) for n in nodes]
        if final is not _NOFINAL:
            args.append(final)
        args = [None if a is MISSING else a for a in args]
        try:
            return _FUNCS[name](args)
        except _FuncError as e:
            self.fail(line, f"error calling {name}: {e}")


def check_go_template(template: str) -> None:
    """Raise TemplateError if `template` does not parse (kubectl refuses it before asking the server)."""
    _parse_go_template(template, _ALL_FUNCS)


def check_jsonpath(template: str) -> None:
    """Raise JSONPathError if `template` does not parse."""
    _parse_jsonpath(template)


def go_template(template: str, obj: Any) -> str:
    """Execute a Go text/template (kubectl's subset) against `obj`."""
    nodes = _parse_go_template(template, _ALL_FUNCS)
    ex = _GExec(obj)
    ex.walk(obj, nodes)
    return "".join(ex.out)
