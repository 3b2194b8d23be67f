"""The storage contract (tests/storage_contract.py) on the in-memory store the unit tests use.

The same suite runs on a real etcd in tests/integration/test_storage_contract.py.
"""
from __future__ import annotations

from typing import AsyncIterator

import pytest

from apiserver.memstorage import MemoryStorage
from tests.storage_contract import StorageContract


class TestMemoryStorage(StorageContract):
    @pytest.fixture
    async def storage(self) -> AsyncIterator[MemoryStorage]:
        s = MemoryStorage()
        await s.start()
        yield s
        await s.close()
