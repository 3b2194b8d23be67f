"""Go text/template as kubectl users rely on it: ``-o go-template=...``.

Where this sits: one of the `kubectl.output` languages, called by
`kubectl.printers`; templates are parsed by `kubectl.output.gotemplate_parse`
and values printed by `kubectl.output.gofmt`.  This module executes them:
fields, variables (``$``, ``$x :=``, ``$x =``), pipelines, ``if``/``else
if``/``else``, ``range`` (over lists, maps in key order and integers, with
``$i, $v :=`` and ``else``), ``with``, ``break``/``continue``, and the
functions ``and or not len index slice eq ne lt le gt ge print printf
println base64decode``.  Values print as Go does (``map[a:b]``, ``[x y]``,
``<no value>`` for a missing key).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from kubectl.output.gofmt import go_sprint, go_sprintf, go_type, is_number
from kubectl.output.gotemplate_parse import (
    ActionNode,
    Arg,
    Branch,
    Command,
    Dot,
    FieldRef,
    Ident,
    Literal,
    LoopCtl,
    Nil,
    Node,
    Pipe,
    TemplateError,
    TextNode,
    VarRef,
    parse,
)

__all__ = ["TemplateError", "check_go_template", "go_template"]


class _Missing:
    """Go's invalid reflect.Value: a map key that is not there."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Any = _Missing()
_NOFINAL: Any = object()  # no piped-in value


# -- functions -----------------------------------------------------------------


class _FuncError(Exception):
    pass


def _truth(v: Any) -> bool:
    if v is MISSING or v is None:
        return False
    if isinstance(v, bool):
        return v
    if is_number(v):
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
    raise _FuncError(f"len of {'nil pointer' if x is None else 'type ' + go_type(x)}")


def _f_index(args: list[Any]) -> Any:
    if not args:
        raise _FuncError("wrong number of args: want at least 1 got 0")
    item = args[0]
    for k in args[1:]:
        if item is None:
            raise _FuncError("index of untyped nil")
        if isinstance(item, (list, tuple, str)):
            if not isinstance(k, int) or isinstance(k, bool):
                raise _FuncError(f"cannot index slice/array with type {go_type(k)}")
            seq: Sequence[Any] = item.encode() if isinstance(item, str) else item
            if not 0 <= k < len(seq):
                raise _FuncError(f"index out of range: {k}")
            item = seq[k]
        elif isinstance(item, Mapping):
            if not isinstance(k, str):
                raise _FuncError(f"value has type {go_type(k)}; should be string")
            item = item.get(k)  # a missing key gives the zero value (nil)
        else:
            raise _FuncError(f"can't index item of type {go_type(item)}")
    return item


def _f_slice(args: list[Any]) -> Any:
    if not args or len(args) > 3:
        raise _FuncError(f"wrong number of args: want 1 to 3 got {len(args)}")
    item = args[0]
    if not isinstance(item, (list, tuple, str)):
        raise _FuncError(f"can't slice item of type {go_type(item)}")
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
    if is_number(v):
        return "number"
    if isinstance(v, str):
        return "string"
    raise _FuncError(f"non-comparable type {go_type(v)}")


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
        raise _FuncError(f"base64decode of type {go_type(args[0])}")
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



# -- execution ------------------------------------------------------------

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

    def walk(self, dot: Any, nodes: list[Node]) -> None:
        for node in nodes:
            if isinstance(node, TextNode):
                self.out.append(node.text)
            elif isinstance(node, ActionNode):
                val = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.out.append(self.printable(val))
            elif isinstance(node, LoopCtl):
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

    def walk_range(self, dot: Any, node: Branch) -> None:
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

    def pipeline(self, dot: Any, pipe: Pipe, declare: bool = True) -> Any:
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

    def command(self, dot: Any, cmd: Command, final: Any, line: int) -> Any:
        first = cmd.args[0]
        if isinstance(first, Ident):
            return self.call(first.name, dot, cmd.args[1:], final, line)
        if len(cmd.args) > 1 or final is not _NOFINAL:
            self.fail(line, "can't give argument to non-function")
        if isinstance(first, Nil):
            self.fail(line, "nil is not a command")
        return self.arg(dot, first, line)

    def arg(self, dot: Any, node: Arg, line: int) -> Any:
        if isinstance(node, Dot):
            return dot
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Nil):
            return None
        if isinstance(node, FieldRef):
            return self.fields(dot, node.names, line)
        if isinstance(node, VarRef):
            return self.fields(self.lookup(node.name, line), node.names, line)
        if isinstance(node, Ident):
            return self.call(node.name, dot, [], _NOFINAL, line)
        return self.fields(self.pipeline(dot, node.node, declare=False), node.names, line)

    def fields(self, receiver: Any, names: list[str], line: int) -> Any:
        for name in names:
            if receiver is MISSING:
                return MISSING
            if receiver is None:
                self.fail(line, f"nil pointer evaluating interface {{}}.{name}")
            if not isinstance(receiver, Mapping):
                self.fail(line, f"can't evaluate field {name} in type {go_type(receiver)}")
            receiver = receiver.get(name, MISSING)
        return receiver

    def call(self, name: str, dot: Any, nodes: list[Arg], final: Any, line: int) -> Any:
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
    parse(template, _ALL_FUNCS)


def go_template(template: str, obj: Any) -> str:
    """Execute a Go text/template (kubectl's subset) against `obj`."""
    nodes = parse(template, _ALL_FUNCS)
    ex = _GExec(obj)
    ex.walk(obj, nodes)
    return "".join(ex.out)
