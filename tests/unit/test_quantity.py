"""Unit tests for kubelab.quantity: parsing, rounding helpers, formatting and
Kubernetes-style canonical printing of resource quantities."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kubelab.quantity import (
    QuantityError,
    QuantityLike,
    canonical,
    cpu_millis,
    format_bytes,
    format_cpu_millis,
    parse_quantity,
    to_bytes,
)


@pytest.mark.parametrize(
    "text, value",
    [
        pytest.param("250m", Fraction(1, 4), id="milli"),
        pytest.param("1", Fraction(1), id="one"),
        pytest.param("0", Fraction(0), id="zero"),
        pytest.param("0.5", Fraction(1, 2), id="decimal"),
        pytest.param(".5", Fraction(1, 2), id="leading-dot"),
        pytest.param("5.", Fraction(5), id="trailing-dot"),
        pytest.param("+2", Fraction(2), id="plus-sign"),
        pytest.param("-1", Fraction(-1), id="negative"),
        pytest.param("100n", Fraction(1, 10**7), id="nano"),
        pytest.param("5u", Fraction(5, 10**6), id="micro"),
        pytest.param("1k", Fraction(1000), id="kilo"),
        pytest.param("1M", Fraction(10**6), id="mega"),
        pytest.param("1G", Fraction(10**9), id="giga"),
        pytest.param("2T", Fraction(2 * 10**12), id="tera"),
        pytest.param("1P", Fraction(10**15), id="peta"),
        pytest.param("1E", Fraction(10**18), id="exa"),
        pytest.param("100Ki", Fraction(102400), id="kibi"),
        pytest.param("128Mi", Fraction(134217728), id="mebi"),
        pytest.param("1Gi", Fraction(2**30), id="gibi"),
        pytest.param("2Ti", Fraction(2 * 2**40), id="tebi"),
        pytest.param("1Pi", Fraction(2**50), id="pebi"),
        pytest.param("1Ei", Fraction(2**60), id="exbi"),
        pytest.param("1.5Gi", Fraction(3 * 2**29), id="fractional-binary"),
        pytest.param("1e3", Fraction(1000), id="exponent"),
        pytest.param("1E3", Fraction(1000), id="capital-exponent"),
        pytest.param("1.5e-3", Fraction(3, 2000), id="negative-exponent"),
        pytest.param("12e+2", Fraction(1200), id="explicit-plus-exponent"),
    ],
)
def test_parse_string(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param(2, Fraction(2), id="int"),
        pytest.param(0.5, Fraction(1, 2), id="float"),
        pytest.param(0.1, Fraction(1, 10), id="float-no-binary-noise"),
        pytest.param(1e-7, Fraction(1, 10**7), id="float-exponent-repr"),
        pytest.param(Fraction(3, 4), Fraction(3, 4), id="fraction"),
    ],
)
def test_parse_numbers(value: QuantityLike, expected: Fraction) -> None:
    assert parse_quantity(value) == expected


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("12x", id="unknown-suffix"),
        pytest.param("-", id="sign-only"),
        pytest.param("abc", id="letters"),
        pytest.param("", id="empty"),
        pytest.param(".", id="dot-only"),
        pytest.param("1 Gi", id="inner-space"),
        pytest.param(" 1", id="leading-space"),
        pytest.param("1Gi ", id="trailing-space"),
        pytest.param("1KI", id="wrong-case-binary"),
        pytest.param("1K", id="capital-k"),
        pytest.param("1e", id="exponent-without-digits"),
        pytest.param("1e1.5", id="fractional-exponent"),
        pytest.param("1.2.3", id="two-dots"),
        pytest.param("--1", id="double-sign"),
        pytest.param("1e99999", id="exponent-too-large"),
        pytest.param("١", id="non-ascii-digit"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="inf"),
        pytest.param(True, id="bool"),
    ],
)
def test_parse_errors(bad: QuantityLike) -> None:
    with pytest.raises(QuantityError) as exc:
        parse_quantity(bad)
    assert isinstance(exc.value, ValueError)
    assert "invalid quantity" in str(exc.value)


@pytest.mark.parametrize(
    "q, millis",
    [
        pytest.param("250m", 250, id="milli"),
        pytest.param("1", 1000, id="one"),
        pytest.param("1.5", 1500, id="decimal"),
        pytest.param("0.1", 100, id="tenth"),
        pytest.param("100u", 1, id="rounds-up"),
        pytest.param("1n", 1, id="nano-rounds-up"),
        pytest.param("-1n", -1, id="negative-rounds-away-from-zero"),
        pytest.param(2, 2000, id="int"),
        pytest.param(0.25, 250, id="float"),
        pytest.param("1k", 1000000, id="kilo"),
    ],
)
def test_cpu_millis(q: QuantityLike, millis: int) -> None:
    assert cpu_millis(q) == millis


@pytest.mark.parametrize(
    "q, n",
    [
        pytest.param("128Mi", 134217728, id="mebi"),
        pytest.param("1G", 10**9, id="giga"),
        pytest.param("1500m", 2, id="rounds-up"),
        pytest.param("1m", 1, id="milli-rounds-up"),
        pytest.param("0", 0, id="zero"),
        pytest.param(1024, 1024, id="int"),
    ],
)
def test_to_bytes(q: QuantityLike, n: int) -> None:
    assert to_bytes(q) == n


@pytest.mark.parametrize(
    "millis, text",
    [
        pytest.param(250, "250m", id="milli"),
        pytest.param(1000, "1", id="one"),
        pytest.param(1500, "1500m", id="fraction"),
        pytest.param(0, "0", id="zero"),
        pytest.param(4000, "4", id="four"),
        pytest.param(-500, "-500m", id="negative"),
    ],
)
def test_format_cpu_millis(millis: int, text: str) -> None:
    assert format_cpu_millis(millis) == text
    assert cpu_millis(text) == millis  # round-trips


@pytest.mark.parametrize(
    "n, text",
    [
        pytest.param(134217728, "128Mi", id="mebi"),
        pytest.param(1024, "1Ki", id="kibi"),
        pytest.param(2**30, "1Gi", id="gibi"),
        pytest.param(3 * 2**29, "1536Mi", id="largest-exact"),
        pytest.param(2**60 * 3, "3Ei", id="exbi"),
        pytest.param(1000, "1000", id="plain"),
        pytest.param(1500, "1500", id="plain-not-multiple"),
        pytest.param(0, "0", id="zero"),
        pytest.param(-2048, "-2Ki", id="negative"),
    ],
)
def test_format_bytes(n: int, text: str) -> None:
    assert format_bytes(n) == text
    assert to_bytes(text) == n  # round-trips


@pytest.mark.parametrize(
    "q, text",
    [
        pytest.param("1", "1", id="one"),
        pytest.param(1, "1", id="int-one"),
        pytest.param("0.5", "500m", id="half"),
        pytest.param(0.5, "500m", id="float-half"),
        pytest.param("1000m", "1", id="thousand-milli"),
        pytest.param("1500m", "1500m", id="milli-kept"),
        pytest.param("1.5", "1500m", id="decimal-to-milli"),
        pytest.param("100m", "100m", id="milli"),
        pytest.param("1000", "1k", id="thousand"),
        pytest.param("1500", "1500", id="not-a-round-kilo"),
        pytest.param("1000000", "1M", id="million"),
        pytest.param("1G", "1G", id="giga"),
        pytest.param("0", "0", id="zero"),
        pytest.param("0Mi", "0", id="zero-binary"),
        pytest.param("-0.5", "-500m", id="negative"),
        pytest.param("0.0000000001", "1n", id="below-nano-rounds-up"),
        pytest.param("1" + "0" * 21, "1000E", id="beyond-exa"),
        pytest.param("1e21", "1e21", id="big-exponent-kept"),
        pytest.param("128Mi", "128Mi", id="mebi"),
        pytest.param("1024Mi", "1Gi", id="mebi-to-gibi"),
        pytest.param("1.5Gi", "1536Mi", id="fractional-gibi"),
        pytest.param("0.5Ki", "512", id="below-1024-decimal"),
        pytest.param("1.5Ki", "1536", id="no-exact-binary-suffix"),
        pytest.param("0.5Mi", "512Ki", id="half-mebi"),
        pytest.param("1e3", "1e3", id="exponent-kept"),
        pytest.param("1e0", "1", id="exponent-zero"),
        pytest.param("1.5e3", "1500", id="exponent-mantissa"),
        pytest.param("12e-3", "12e-3", id="negative-exponent"),
        pytest.param("+1", "1", id="plus"),
    ],
)
def test_canonical(q: QuantityLike, text: str) -> None:
    assert canonical(q) == text
    assert canonical(text) == text  # canonical form is a fixed point


@pytest.mark.parametrize(
    "q",
    [pytest.param(q, id=q) for q in ["250m", "1", "1.5", "128Mi", "1.5Gi", "1e3", "12e-3", "1000000", "-0.5"]],
)
def test_canonical_preserves_value(q: str) -> None:
    assert parse_quantity(canonical(q)) == parse_quantity(q)


def test_canonical_rejects_bad_input() -> None:
    with pytest.raises(QuantityError):
        canonical("12x")
