"""Go's fmt, strconv and encoding/json as kubectl's output templates print values.

Where this sits: the bottom of `kubectl.output`, shared by the JSONPath,
custom-columns and Go-template printers (nothing else imports it).  Values
are plain JSON-like data (dict, list, str, int, float, bool, None), the
object as Kubernetes serialises it; each function prints one the way Go
prints the same value held in an ``interface{}``:

* `go_sprint` is ``fmt.Sprint`` (``map[a:b]``, ``[x y]``, ``<nil>``, floats
  in strconv's shortest 'g' form); `go_sprintf` is the part of
  ``fmt.Sprintf`` templates use (verbs v s q d b o x X c U e f g t, flags,
  width and precision, ``%!v(MISSING)`` and ``%!(EXTRA ...)``).
* `go_json` is ``json.Marshal``: compact, keys sorted, HTML-safe escapes.
* `scan_quoted` reads a Go string literal (strconv.Unquote's escapes) out of
  a template.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any


def is_number(v: Any) -> bool:
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


def go_type(v: Any) -> str:
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


def go_json(v: Any) -> str:
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
        return "{" + ",".join(f"{go_json(str(k))}:{go_json(v[k])}" for k in sorted(v)) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    return go_json(str(v))


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


def scan_quoted(text: str, start: int) -> tuple[str, int]:
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



# -- printf ------------------------------------------------------------

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
        return f"%!{verb}({go_type(a)}={go_sprint(a)})"

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
        if not is_number(a):
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
            "<nil>" if a is None else f"{go_type(a)}={go_sprint(a)}" for a in args[argi:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
