"""The benchmarks' no-op API server (bench/noop_apiserver.py) is a fair ceiling: it answers the client's
calls on the apiserver's own transport, bearer-token check included, and does nothing else."""
from __future__ import annotations

import asyncio

import pytest

from bench.common import noop_apiserver
from kubelab import errors
from kubelab.client import Client, new_object

pytestmark = pytest.mark.integration


def test_noop_server_echoes_creates_and_binds_behind_the_token_check() -> None:
    async def run() -> None:
        with noop_apiserver("s3cret") as (address, _pid):
            async with Client(address, "s3cret") as client:
                pod = new_object("Pod", "web", "default")
                pod.spec.containers.add(name="web", image="kubelab/web")
                echoed = await client.create(pod)
                assert echoed == pod                      # nothing defaulted, nothing stored
                bound = await client.bind("default", "web", "node-1")
                assert (bound.metadata.name, bound.spec.node_name) == ("web", "node-1")
            async with Client(address, "wrong") as intruder:
                with pytest.raises(errors.Unauthenticated):
                    await intruder.create(pod)
    asyncio.run(run())
