"""Stand-ins for what the Docker kubelet's pod side talks to, for unit tests without Docker or an apiserver.

`FakeRuntime` is a `kubelet.docker_runtime.DockerRuntime` whose containers live in a dict: the calls the pod
worker, the hooks and the pod manager make (list, inspect, create, start, stop, kill, remove, exec, volumes)
change that dict and are logged in `actions`. A subclass of the real class, so a signature that drifts from
the real one is a type error. The API and the Events are tests/harness/fake_client.py's.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

from kubelet.docker_runtime import L_UID, ContainerInfo, DockerRuntime, pod_labels


class FakeRuntime(DockerRuntime):
    """Containers and volumes in memory; `clock` stamps starts and finishes (Unix seconds)."""

    def __init__(self, clock: Callable[[], float], node_name: str = "node-1") -> None:   # no Docker client
        self.node_name = node_name
        self.clock = clock
        self.containers: dict[str, ContainerInfo] = {}
        self.volumes: list[dict[str, Any]] = []
        self.actions: list[tuple[Any, ...]] = []       # (call, container id or name, argument): what was done
        self.exec_results: dict[tuple[str, ...], tuple[int | None, str]] = {}   # command -> (exit code, output)
        self.on_exec: Callable[[], None] = lambda: None                        # e.g. a hook that takes time
        self._ids = itertools.count(1)

    def add(self, pod: Any, container: str, status: str, restart: int = 0, exit_code: int = 0,
            kind: str = "container", labels: dict[str, str] | None = None) -> ContainerInfo:
        """A container of `pod` as a previous sync (or kubelet) left it."""
        info = ContainerInfo(id=f"c{next(self._ids)}", name=f"{container}-{restart}",
                             labels={**pod_labels(self.node_name, pod, container, kind, restart), **(labels or {})},
                             status=status, image="kubelab/web", image_id="sha256:1", created=self.clock(),
                             started_ts=self.clock(), finished_ts=self.clock() if status == "exited" else 0.0,
                             exit_code=exit_code, ip="10.244.1.5" if kind == "sandbox" else "")
        self.containers[info.id] = info
        return info

    def finish(self, cid: str, exit_code: int) -> None:
        c = self.containers[cid]
        c.status, c.exit_code, c.finished_ts = "exited", exit_code, self.clock()

    def created(self) -> list[str]:
        """The names of the containers created, in order."""
        return [call[1] for call in self.actions if call[0] == "create"]

    async def list_containers(self, uid: str | None = None, all_nodes: bool = False) -> list[ContainerInfo]:
        out = [c for c in self.containers.values() if uid is None or c.uid == uid]
        out.sort(key=lambda i: (i.restart_count, i.created), reverse=True)       # newest first, as Docker's
        return out

    async def inspect(self, cid: str) -> ContainerInfo:
        return self.containers[cid]

    async def inspect_image(self, ref: str) -> dict[str, Any] | None:
        return {"Id": "sha256:1"}                          # every image is present

    async def create(self, name: str, image: str, labels: dict[str, str], host_config: dict[str, Any],
                     stdin_once: bool = False, **kwargs: Any) -> str:
        self.actions.append(("create", name))
        cid = f"c{next(self._ids)}"
        self.containers[cid] = ContainerInfo(id=cid, name=name, labels=labels, status="created", image=image,
                                             image_id="sha256:1", created=self.clock())
        return cid

    def container_host_config(self, sandbox_id: str, container: Any, mounts: list[dict[str, Any]],
                              binds: list[str], log_max_size: str) -> dict[str, Any]:
        return {"NetworkMode": f"container:{sandbox_id}"}

    async def start(self, cid: str) -> None:
        self.actions.append(("start", cid))
        c = self.containers[cid]
        c.status, c.started_ts = "running", self.clock()

    async def stop(self, cid: str, timeout: int) -> None:
        self.actions.append(("stop", cid, timeout))
        c = self.containers.get(cid)
        if c is not None and c.running:
            c.status, c.exit_code, c.finished_ts = "exited", 143, self.clock()

    async def kill(self, cid: str, signal: str = "KILL") -> None:
        self.actions.append(("kill", cid))

    async def remove(self, cid: str) -> None:
        self.actions.append(("remove", cid))
        self.containers.pop(cid, None)

    async def exec_run(self, cid: str, command: list[str], timeout: float) -> tuple[int | None, str]:
        self.actions.append(("exec", cid, tuple(command)))
        self.on_exec()
        return self.exec_results.get(tuple(command), (0, ""))

    async def list_volumes(self, uid: str | None = None, all_nodes: bool = False) -> list[dict[str, Any]]:
        return [v for v in self.volumes if uid is None or (v.get("Labels") or {}).get(L_UID) == uid]

    async def remove_volume(self, name: str) -> bool:
        self.actions.append(("remove_volume", name))
        self.volumes = [v for v in self.volumes if v["Name"] != name]
        return True

