"""The integration tier itself: it fails, not skips, where etcd is missing (CI must not pass without it)."""
from __future__ import annotations

import pytest

from .conftest import need_etcd


def test_without_etcd_on_path_the_tier_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="etcd is not on PATH"):
        need_etcd()


def test_with_etcd_on_path_it_goes_on() -> None:
    need_etcd()
