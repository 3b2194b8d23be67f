"""The storage contract (tests/storage_contract.py) on a real etcd.

One etcd for the module, on free loopback ports, in its own data directory;
each test gets its own client and key prefix. The same suite runs on the
in-memory store in tests/unit/test_storage_contract.py.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest

from apiserver.storage import EtcdStorage
from lab.local import free_port
from tests.storage_contract import StorageContract

from .conftest import need_etcd


@pytest.fixture(scope="module")
def etcd_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need_etcd()
    data = tmp_path_factory.mktemp("etcd")
    client, peer = free_port(), free_port()
    log = open(data / "etcd.log", "wb")
    proc = subprocess.Popen([str(shutil.which("etcd")), "--name", "contract", "--data-dir", str(data / "data"),
                             "--listen-client-urls", f"http://127.0.0.1:{client}",
                             "--advertise-client-urls", f"http://127.0.0.1:{client}",
                             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                             "--initial-cluster", f"contract=http://127.0.0.1:{peer}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_port(client, proc, data / "etcd.log")
        yield f"127.0.0.1:{client}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"etcd exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"etcd did not open port {port} within {timeout:.0f}s")


class TestEtcdStorage(StorageContract):
    @pytest.fixture
    async def storage(self, etcd_endpoint: str) -> AsyncIterator[EtcdStorage]:
        s = EtcdStorage([etcd_endpoint])
        await s.start()
        yield s
        await s.close()
