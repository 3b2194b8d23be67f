"""Go text/template's parser, for kubectl's ``-o go-template=...``.

Where this sits: the parse half of `kubectl.output.gotemplate` (as Go keeps
text/template/parse apart from execution); nothing else imports it.  A
template becomes a list of nodes: text, actions (pipelines of commands over
fields, variables, literals and function names), ``if``/``with``/``range``
branches with ``else``/``else if``, and ``break``/``continue``.  Trim
markers ``{{-``/``-}}`` and comments are handled by the lexer.  Errors are
`TemplateError` in Go's words (``template: output:LINE: ...``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, Union

from kubectl.output.gofmt import scan_quoted


class TemplateError(ValueError):
    """A Go template is malformed or fails while executing."""


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
            value, end = scan_quoted(t, k)
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
class Dot:
    pass


@dataclass
class Nil:
    pass


@dataclass
class Literal:
    value: Any


@dataclass
class FieldRef:
    names: list[str]


@dataclass
class VarRef:
    name: str
    names: list[str]


@dataclass
class Ident:
    name: str


@dataclass
class Chain:
    node: Pipe
    names: list[str]


Arg = Union[Dot, Nil, Literal, FieldRef, VarRef, Ident, Chain]


@dataclass
class Command:
    args: list[Arg]


@dataclass
class Pipe:
    decl: list[str]
    assign: bool
    cmds: list[Command]
    line: int


@dataclass
class TextNode:
    text: str


@dataclass
class ActionNode:
    pipe: Pipe


@dataclass
class Branch:
    """if / with / range."""

    kind: str
    pipe: Pipe
    body: list[Node] = field(default_factory=list)
    else_: list[Node] | None = None


@dataclass
class LoopCtl:
    kind: str  # break / continue
    line: int


Node = Union[TextNode, ActionNode, Branch, LoopCtl]

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

    def pipeline(self, context: str, max_vars: int, end: str | None = None) -> Pipe:
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
        cmds: list[Command] = []
        while True:
            cmds.append(self.command(context))
            tok = self.peek()
            if tok is None or tok.kind == end:
                break
            if tok.kind != _T_PIPE:
                self.fail(f"unexpected {tok.value!r} in {context}")
            self.i += 1
        return Pipe(decl, assign, cmds, self.line)

    def command(self, context: str) -> Command:
        args: list[Arg] = []
        while True:
            tok = self.peek()
            if tok is None or tok.kind in (_T_PIPE, _T_RPAREN):
                break
            if args and not tok.space and tok.kind != _T_LPAREN:
                self.fail(f"missing space before {tok.value!r}")
            args.append(self.operand())
        if not args:
            self.fail(f"missing value for {context}")
        return Command(args)

    def chain(self) -> list[str]:
        names: list[str] = []
        while (tok := self.peek()) is not None and tok.kind == _T_FIELD and not tok.space:
            names.append(tok.value)
            self.i += 1
        return names

    def operand(self) -> Arg:
        tok = self.toks[self.i]
        self.i += 1
        node: Arg
        if tok.kind == _T_FIELD:
            node = FieldRef([tok.value, *self.chain()])
        elif tok.kind == _T_DOT:
            node = Dot()
        elif tok.kind == _T_VAR:
            node = VarRef(tok.value, self.chain())
        elif tok.kind == _T_STRING or tok.kind == _T_NUMBER:
            node = Literal(tok.value)
        elif tok.kind == _T_IDENT:
            name = tok.value
            if name in ("true", "false"):
                node = Literal(name == "true")
            elif name == "nil":
                node = Nil()
            elif name in _KEYWORDS:
                self.fail(f"unexpected {name!r} in operand")
            elif name not in self.funcs:
                self.fail(f'function "{name}" not defined')
            else:
                node = Ident(name)
        elif tok.kind == _T_LPAREN:
            inner = self.pipeline("parenthesized pipeline", 1, end=_T_RPAREN)
            closing = self.peek()
            if closing is None or closing.kind != _T_RPAREN:
                self.fail("unclosed left paren")
            self.i += 1
            node = Chain(inner, self.chain())
        else:
            self.fail(f"unexpected {tok.value!r} in operand")
        if isinstance(node, (Literal, Nil, Ident, Dot)):
            nxt = self.peek()
            if nxt is not None and nxt.kind == _T_FIELD and not nxt.space:
                self.fail(f"unexpected .{nxt.value} after {tok.value!r}")
        return node


@dataclass
class _Frame:
    node: Branch
    line: int
    chained: bool = False

    @property
    def out(self) -> list[Node]:
        return self.node.else_ if self.node.else_ is not None else self.node.body


def parse(text: str, funcs: Mapping[str, Any]) -> list[Node]:
    root: list[Node] = []
    frames: list[_Frame] = []

    def out() -> list[Node]:
        return frames[-1].out if frames else root

    for seg in _GLexer(text).segments():
        if isinstance(seg, _GText):
            out().append(TextNode(seg.text))
            continue
        toks, line = seg.tokens, seg.line
        p = _GCmdParser(toks, line, funcs)
        first = toks[0] if toks else None
        word = first.value if first is not None and first.kind == _T_IDENT else None
        if word in ("if", "with", "range"):
            p.i = 1
            node = Branch(word, p.pipeline(word, 2 if word == "range" else 1))
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
                node = Branch(sub, p.pipeline(sub, 1))
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
            out().append(LoopCtl(word, line))
        elif word in ("define", "template", "block"):
            p.fail(f"{{{{{word}}}}} is not supported")
        else:
            if first is None:
                p.fail("missing value for command")
            pipe = p.pipeline("command", 1)
            if p.peek() is not None:
                p.fail(f"unexpected {p.peek()!r}")
            out().append(ActionNode(pipe))
    if frames:
        f = frames[0]
        raise TemplateError(f"template: output:{f.line}: unexpected EOF: {{{{{f.node.kind}}}}} has no {{{{end}}}}")
    return root
