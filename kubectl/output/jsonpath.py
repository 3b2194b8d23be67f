"""kubectl's JSONPath: ``-o jsonpath=...``, ``--sort-by`` and ``wait --for=jsonpath``.

Where this sits: one of the `kubectl.output` languages, under the printers
in `kubectl.printers` and `kubectl.wait`; custom-columns
(`kubectl.output.custom_columns`) evaluates its column paths with it.
Follows k8s.io/client-go/util/jsonpath as kubectl configures it (missing
keys allowed): ``{.a.b}``, ``{.items[*].x}``, ``[0]``, ``[-1]``, ``[1:3]``,
``[0,2]``, ``['k']``, ``[?(@.type=="Ready")]`` (with ``==``, ``!=``, ``<``,
``<=``, ``>``, ``>=``, ``&&``, ``||``), ``..`` recursive descent, ``*``,
``$``/``@``, ``{range ...}...{end}``, ``{"\\n"}`` string literals and
``\\.`` escapes in keys.  Several results of one expression are joined by a
space; maps and lists print as compact JSON (Go's json.Marshal); a missing
field, a null and an out-of-range index print nothing.  Values are plain
JSON-like data, the object as Kubernetes serialises it (camelCase keys).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Union

from kubectl.output.gofmt import go_json, go_sprint, is_number, scan_quoted


class JSONPathError(ValueError):
    """A JSONPath template (or a custom-columns spec) is malformed."""


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
    left: Union[Path, _JLiteral]
    op: str | None = None
    right: Union[Path, _JLiteral, None] = None


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
class Path:
    """One parsed path (``.a.b[0]``): what `single_path` gives and `find` evaluates."""

    root: str  # "$" (document root) or "@" (current value)
    steps: tuple[_JStep, ...]


@dataclass
class _JText:
    text: str


@dataclass
class _JExpr:
    path: Path


@dataclass
class _JRange:
    path: Path
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
            value, self.pos = scan_quoted(self.text, self.pos)
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

    def path(self) -> Path:
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
                return Path(root, tuple(steps))

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

    def operand(self) -> Path | _JLiteral:
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


def _eval_path(path: Path, current: Any, root: Any) -> list[Any]:
    values = [root if path.root == "$" else current]
    values = [v for v in values if v is not None]
    for step in path.steps:
        values = _apply_step(step, values, root)
    return values


def _operand_values(op: Path | _JLiteral, current: Any, root: Any) -> list[Any]:
    if isinstance(op, _JLiteral):
        return [op.value]
    return _eval_path(op, current, root)


def _compare(a: Any, op: str, b: Any) -> bool:
    comparable = (is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str))
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
        return go_json(v)
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
    and string literals are skipped): ``-o jsonpath-as-json`` and ``--sort-by``."""
    out: list[Any] = []
    _collect(_parse_jsonpath(template), obj, obj, out)
    return out


def check_jsonpath(template: str) -> None:
    """Raise JSONPathError if `template` does not parse (kubectl refuses it before asking the server)."""
    _parse_jsonpath(template)


_RELAXED_RE = re.compile(r"^\{\.?([^{}]+)\}$|^\.?([^{}]+)$")


def relaxed_jsonpath(expr: str) -> str:
    """kubectl's RelaxedJSONPathExpression, for custom-columns and --sort-by:
    ``a.b``, ``.a.b``, ``{a.b}`` and ``{.a.b}`` all become ``{.a.b}``."""
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



def single_path(template: str) -> Path | None:
    """The path of a template that is one ``{expression}`` and nothing else; None otherwise."""
    nodes = _parse_jsonpath(template)
    if len(nodes) != 1 or not isinstance(nodes[0], _JExpr):
        return None
    return nodes[0].path


def find(path: Path, obj: Any) -> list[Any]:
    """The values `path` selects in `obj` (nulls and missing keys select nothing)."""
    return _eval_path(path, obj, obj)
