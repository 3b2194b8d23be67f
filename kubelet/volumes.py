"""Pod volumes: what `spec.volumes` becomes on the Docker engine.

The pod worker (`kubelet.worker`) calls `setup(pod)` before it creates the
pod's sandbox, asks `mounts(pod, container)` for each container it creates,
and calls `teardown(uid)` once the pod's containers are gone.

- emptyDir → one Docker named volume per pod and volume
  (`kubelab-<uid>-<volume>`), so every container of the pod mounts the same
  directory, and it outlives container restarts but not the pod (as in
  Kubernetes). `medium: Memory` makes it a tmpfs, sized by `sizeLimit`.
  Named volumes rather than host directories because the kubelet itself runs
  in a container in the lab: a path it creates is not a path on the engine's
  host, a volume is the same everywhere.
- hostPath → a bind mount of that path on the engine's host (in the lab, the
  machine running Docker, not the node container).
"""
from __future__ import annotations

import logging
from typing import Any

from kubelab.quantity import QuantityError, to_bytes

from .docker_runtime import L_NODE, L_NAMESPACE, L_POD, L_UID, L_VOLUME, DockerRuntime, RuntimeError_

log = logging.getLogger(__name__)


def volume_name(uid: str, volume: str) -> str:
    return f"kubelab-{uid}-{volume}"


class VolumeManager:
    def __init__(self, runtime: DockerRuntime) -> None:
        self.runtime = runtime
        self._ready: set[str] = set()          # uids whose volumes exist

    async def setup(self, pod: Any) -> None:
        uid = pod.metadata.uid
        if uid in self._ready:
            return
        if not any(v.HasField("empty_dir") for v in pod.spec.volumes):
            self._ready.add(uid)
            return
        existing = {v["Name"] for v in await self.runtime.list_volumes(uid)}
        for v in pod.spec.volumes:
            if not v.HasField("empty_dir"):
                continue
            name = volume_name(uid, v.name)
            if name in existing:
                continue
            opts: dict[str, str] | None = None
            if v.empty_dir.medium == "Memory":
                opts = {"type": "tmpfs", "device": "tmpfs", "o": "mode=1777"}
                if v.empty_dir.size_limit:
                    try:
                        opts["o"] += f",size={to_bytes(v.empty_dir.size_limit)}"
                    except QuantityError:
                        pass
            labels = {L_NODE: self.runtime.node_name, L_NAMESPACE: pod.metadata.namespace,
                      L_POD: pod.metadata.name, L_UID: uid, L_VOLUME: v.name}
            await self.runtime.create_volume(name, labels, opts)
            log.debug("created emptyDir %s for %s/%s", v.name, pod.metadata.namespace, pod.metadata.name)
        self._ready.add(uid)

    def mounts(self, pod: Any, container: Any) -> tuple[list[dict[str, Any]], list[str]]:
        """Docker `Mounts` entries (emptyDir) and `Binds` (hostPath) for one container.

        hostPath goes through the legacy `Binds`, which create a missing
        directory on the host (DirectoryOrCreate, the common case); `Mounts`
        would refuse it.
        """
        by_name = {v.name: v for v in pod.spec.volumes}
        mounts: list[dict[str, Any]] = []
        binds: list[str] = []
        for m in container.volume_mounts:
            v = by_name.get(m.name)
            if v is None:
                raise RuntimeError_(f'volume "{m.name}" not found', "CreateContainerConfigError")
            if v.HasField("host_path"):
                source = v.host_path.path.rstrip("/") or "/"
                if m.sub_path:
                    source = f"{source}/{m.sub_path}"
                binds.append(f"{source}:{m.mount_path}:{'ro' if m.read_only else 'rw'}")
                continue
            # NoCopy: an emptyDir starts empty. Docker would otherwise fill an empty named volume with
            # what the image has at the mount path (nginx's log links to /dev/stdout, say).
            options: dict[str, Any] = {"NoCopy": True}
            mount: dict[str, Any] = {"Type": "volume", "Source": volume_name(pod.metadata.uid, v.name),
                                     "Target": m.mount_path, "ReadOnly": m.read_only, "VolumeOptions": options}
            if m.sub_path:
                if not self.runtime.supports("1.45"):
                    raise RuntimeError_(f"subPath on emptyDir needs Docker API 1.45 (this engine speaks "
                                        f"{self.runtime.api_version})", "CreateContainerConfigError")
                options["Subpath"] = m.sub_path
            mounts.append(mount)
        return mounts, binds

    def sandbox_mounts(self, pod: Any) -> list[dict[str, Any]]:
        """tmpfs emptyDirs, mounted into the sandbox too: Docker unmounts a tmpfs volume (losing its
        files) when no container uses it, e.g. between an init container and the app container.
        The sandbox lives as long as the pod, so it keeps them mounted."""
        return [{"Type": "volume", "Source": volume_name(pod.metadata.uid, v.name),
                 "Target": f"/.kubelab/volumes/{v.name}", "ReadOnly": False}
                for v in pod.spec.volumes if v.HasField("empty_dir") and v.empty_dir.medium == "Memory"]

    async def teardown(self, uid: str) -> bool:
        """Remove the pod's volumes; False while some are still in use."""
        self._ready.discard(uid)
        ok = True
        for v in await self.runtime.list_volumes(uid):
            ok = await self.runtime.remove_volume(v["Name"]) and ok
        return ok
