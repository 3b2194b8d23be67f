"""A three-member etcd that loses its quorum: the storage says Unavailable (etcd itself answers UNKNOWN "context
deadline exceeded"), so the apiserver answers ServiceUnavailable, not an internal error; one member down
changes nothing; writes work again once the members are back. (The compose lab's version: tests/e2e/test_ha.py.)
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from apiserver import storage as st
from lab.local import free_port

from .conftest import need_etcd


class _Members:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.names = ["m1", "m2", "m3"]
        self.client = {n: free_port() for n in self.names}
        self.peer = {n: free_port() for n in self.names}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        cluster = ",".join(f"{n}=http://127.0.0.1:{self.peer[n]}" for n in self.names)
        log = open(self.root / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen([
            shutil.which("etcd") or "etcd", "--name", name, "--data-dir", str(self.root / name),
            "--listen-client-urls", f"http://127.0.0.1:{self.client[name]}",
            "--advertise-client-urls", f"http://127.0.0.1:{self.client[name]}",
            "--listen-peer-urls", f"http://127.0.0.1:{self.peer[name]}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer[name]}",
            "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "q"],
            stdout=log, stderr=log)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(10)

    def endpoints(self) -> list[str]:
        return [f"127.0.0.1:{self.client[n]}" for n in self.names]


@pytest.fixture
def members(tmp_path: Path) -> Iterator[_Members]:
    need_etcd()
    m = _Members(tmp_path)
    for name in m.names:
        m.start(name)
    try:
        yield m
    finally:
        for name in list(m.procs):
            m.stop(name)


async def _create_eventually(s: st.EtcdStorage, key: bytes, seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            await s.create(key, b"v")
            return
        except st.Unavailable:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_no_quorum_is_unavailable_and_writes_resume_when_members_return(members: _Members) -> None:
    s = st.EtcdStorage(members.endpoints())         # the apiserver's timeout: longer than etcd's own
    await s.start()
    try:
        await _create_eventually(s, b"/q/first", 30)
        members.stop("m1")
        await _create_eventually(s, b"/q/one-down", 30)          # two of three: still a quorum
        members.stop("m2")
        refusals = []
        for i in range(3):
            try:
                await s.create(f"/q/no-quorum-{i}".encode(), b"v")
            except st.StorageError as e:
                refusals.append(e)
        # Each write refused (the first may have been answered before m2's loss showed), each as Unavailable.
        assert len(refusals) >= 2 and all(isinstance(e, st.Unavailable) for e in refusals), \
            [f"{type(e).__name__}: {e}" for e in refusals]
        members.start("m1")
        members.start("m2")
        await _create_eventually(s, b"/q/after", 60)
        for key in (b"/q/first", b"/q/one-down", b"/q/after"):
            assert await s.get(key) is not None, key
    finally:
        await s.close()
