"""Kubernetes resource quantities (``250m``, ``128Mi``, ``1e3``...).

Where this sits: pure logic in the shared client library (`kubelab`), used by
the API server (validating requests/limits), the scheduler (fitting pod
requests onto node allocatable), the kubelet (turning limits into container
runtime settings) and kubectl (printing).  Standard library only.

Values are exact `fractions.Fraction`s.  The accepted syntax is Kubernetes'
(k8s.io/apimachinery/pkg/api/resource)::

    <quantity> ::= <sign><number><suffix>
    <number>   ::= digits | digits "." [digits] | "." digits
    <suffix>   ::= Ki|Mi|Gi|Ti|Pi|Ei  (binary SI)
                 | n|u|m|""|k|M|G|T|P|E  (decimal SI)
                 | (e|E)<signed integer>  (decimal exponent)

`canonical` reproduces how Kubernetes prints a quantity: the suffix family
of the input is kept, the largest suffix giving an integer mantissa is
chosen, and precision below 1n is rounded up.
"""

from __future__ import annotations

import math
import re
import functools
from fractions import Fraction
from typing import Literal, TypeAlias

__all__ = [
    "QuantityError",
    "QuantityLike",
    "canonical",
    "cpu_millis",
    "format_bytes",
    "format_cpu_millis",
    "parse_quantity",
    "to_bytes",
]

QuantityLike: TypeAlias = str | int | float | Fraction
Format: TypeAlias = Literal["DecimalSI", "BinarySI", "DecimalExponent"]


class QuantityError(ValueError):
    """A string is not a valid Kubernetes quantity."""


_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}  # powers of 2
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP = {e: s for s, e in _DECIMAL.items()}
_NUMBER_RE = re.compile(r"([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(.*)", re.DOTALL)
_EXPONENT_RE = re.compile(r"[eE]([+-]?[0-9]+)")
_MAX_EXPONENT = 1000  # guards against `1e999999999` allocating huge integers


def _parse(value: QuantityLike) -> tuple[Fraction, Format]:
    if isinstance(value, bool):
        raise QuantityError(f"invalid quantity {value!r}: booleans are not quantities")
    if isinstance(value, Fraction):
        return value, "DecimalSI"
    if isinstance(value, int):
        return Fraction(value), "DecimalSI"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"invalid quantity {value!r}: must be finite")
        return _parse_str(repr(value))[0], "DecimalSI"
    if not isinstance(value, str):
        raise QuantityError(f"invalid quantity {value!r}: expected a string or number")
    return _parse_str(value)


@functools.lru_cache(maxsize=4096)    # the same few strings ("100m", "64Mi") come by the thousand
def _parse_str(s: str) -> tuple[Fraction, Format]:
    m = _NUMBER_RE.fullmatch(s)
    if m is None:
        raise QuantityError(
            f"invalid quantity {s!r}: quantities must match the regular expression "
            r"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    sign, number, suffix = m.groups()
    amount = Fraction(number)
    if sign == "-":
        amount = -amount
    if suffix in _DECIMAL:
        return amount * Fraction(10) ** _DECIMAL[suffix], "DecimalSI"
    if suffix in _BINARY:
        return amount * 2 ** _BINARY[suffix], "BinarySI"
    em = _EXPONENT_RE.fullmatch(suffix)
    if em is None:
        raise QuantityError(f"invalid quantity {s!r}: unknown suffix {suffix!r}")
    exp = int(em.group(1))
    if abs(exp) > _MAX_EXPONENT:
        raise QuantityError(f"invalid quantity {s!r}: exponent out of range")
    return amount * Fraction(10) ** exp, "DecimalExponent"


def parse_quantity(s: QuantityLike) -> Fraction:
    """The exact value of a quantity; raise QuantityError if malformed."""
    return _parse(s)[0]


def _round_away(x: Fraction) -> int:
    """Round to an integer away from zero (Kubernetes' RoundUp)."""
    return math.ceil(x) if x >= 0 else -math.ceil(-x)


def cpu_millis(q: QuantityLike) -> int:
    """The quantity in thousandths, rounded up (Kubernetes' MilliValue)."""
    return _round_away(parse_quantity(q) * 1000)


def to_bytes(q: QuantityLike) -> int:
    """The quantity as an integer, rounded up (Kubernetes' Value)."""
    return _round_away(parse_quantity(q))


def format_cpu_millis(m: int) -> str:
    """``250`` -> ``250m``, ``1000`` -> ``1``, ``1500`` -> ``1500m``."""
    if m % 1000 == 0:
        return str(m // 1000)
    return f"{m}m"


def format_bytes(b: int) -> str:
    """``134217728`` -> ``128Mi``; values with no exact binary suffix stay plain."""
    if b == 0:
        return "0"
    for suffix, power in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
        if b % (1 << power) == 0:
            return f"{b // (1 << power)}{suffix}"
    return str(b)


def _decimal_canonical(v: Fraction, fmt: Format) -> str:
    if v == 0:
        return "0"
    sign = "-" if v < 0 else ""
    a = abs(v)
    nanos = a * 10**9
    if nanos.denominator != 1:  # below 1n: round up, as Kubernetes does
        nanos = Fraction(math.ceil(nanos))
    n = int(nanos)
    exp = -9
    while n % 1000 == 0 and (fmt == "DecimalExponent" or exp < 18):
        n //= 1000
        exp += 3
    if fmt == "DecimalExponent":
        return f"{sign}{n}" + ("" if exp == 0 else f"e{exp}")
    return f"{sign}{n}{_DECIMAL_BY_EXP[exp]}"


def canonical(s: QuantityLike) -> str:
    """Normalise a quantity as Kubernetes prints it.

    ``1`` -> ``1``, ``0.5`` -> ``500m``, ``1000m`` -> ``1``, ``1000`` -> ``1k``,
    ``128Mi`` -> ``128Mi``, ``1.5Gi`` -> ``1536Mi``, ``0.5Ki`` -> ``512``,
    ``1e3`` -> ``1e3``.
    """
    v, fmt = _parse(s)
    if fmt == "BinarySI":
        if -1024 < v < 1024 or v.denominator != 1:
            return _decimal_canonical(v, "DecimalSI")
        return format_bytes(int(v))
    return _decimal_canonical(v, fmt)
