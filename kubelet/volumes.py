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
- projected (the `kube-api-access-xxxxx` volume the apiserver's ServiceAccount
  admission adds) → a tmpfs named volume (a token is never on disk), mounted
  in the sandbox at /.kubelab/volumes/<name> and read-only in the containers.
  `project(pod, sandbox)` fills it once the sandbox runs, before any container
  starts: the pod-bound token from TokenRequest (kubelet.token_manager), the
  cluster CA as ca.crt (the kube-root-ca.crt ConfigMap's content: the
  kubelet's --root-ca-file), and the downward API files (namespace). Files are
  replaced atomically: the new content goes in beside the old under a hidden
  name (Docker's archive upload: the token never travels on a command line),
  then `mv` renames it over the old file (rename(2)), so a reader sees the old
  token or the new one, never half of one. The worker syncs again when the
  token is due (80% of its lifetime) and a new one is written.
"""
from __future__ import annotations

import io
import logging
import tarfile
import time
from typing import Any, Callable

from kubelab.quantity import QuantityError, to_bytes

from .docker_runtime import L_NODE, L_NAMESPACE, L_POD, L_UID, L_VOLUME, DockerRuntime, RuntimeError_
from .token_manager import TokenManager

log = logging.getLogger(__name__)


def volume_name(uid: str, volume: str) -> str:
    return f"kubelab-{uid}-{volume}"


SANDBOX_VOLUMES = "/.kubelab/volumes"     # where the sandbox mounts the pod's tmpfs volumes
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
TOKEN_RETRY = 5.0                         # seconds before a failed token request is tried again


def tmpfs(v: Any) -> bool:
    """Volumes kept in memory: emptyDir medium Memory, and projected volumes (credentials)."""
    return v.HasField("projected") or (v.HasField("empty_dir") and v.empty_dir.medium == "Memory")


def _mounted(v: Any) -> bool:
    return v.HasField("empty_dir") or v.HasField("projected")


def field_value(pod: Any, path: str, pod_ip: str = "") -> str:
    """A downward API fieldRef's value (the subset a projected volume's items use)."""
    import re
    md = pod.metadata
    simple = {"metadata.name": md.name, "metadata.namespace": md.namespace, "metadata.uid": md.uid,
              "spec.nodeName": pod.spec.node_name, "spec.serviceAccountName": pod.spec.service_account_name,
              "status.podIP": pod_ip}
    if path in simple:
        return simple[path]
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if m:
        return dict(getattr(md, m.group(1))).get(m.group(2), "")
    if path in ("metadata.labels", "metadata.annotations"):
        items = sorted(dict(getattr(md, path.split(".")[1])).items())
        return "\n".join(f'{k}="{v}"' for k, v in items)
    raise RuntimeError_(f'unsupported fieldRef "{path}"', "FailedMount")


def projected_files(pod: Any, source: Any, token: str, root_ca: bytes, pod_ip: str = "") -> dict[str, bytes]:
    """The files of one projected volume (path → content), given the token its serviceAccountToken source
    gets; RuntimeError_ (FailedMount) for a source it cannot fill."""
    files: dict[str, bytes] = {}
    for s in source.sources:
        if s.HasField("service_account_token"):
            files[s.service_account_token.path] = token.encode()
        elif s.HasField("config_map"):
            cm = s.config_map
            if cm.name != ROOT_CA_CONFIGMAP or not root_ca:
                if cm.HasField("optional") and cm.optional:
                    continue
                hint = "" if cm.name != ROOT_CA_CONFIGMAP else " (this kubelet has no --root-ca-file)"
                raise RuntimeError_(f'configmap "{cm.name}" not found{hint}', "FailedMount")
            data = {"ca.crt": root_ca}
            for key, path in [(i.key, i.path) for i in cm.items] or [(k, k) for k in data]:
                if key not in data:
                    raise RuntimeError_(f"configmap references non-existent config key: {key}", "FailedMount")
                files[path] = data[key]
        elif s.HasField("downward_api"):
            for item in s.downward_api.items:
                if item.HasField("field_ref"):
                    files[item.path] = field_value(pod, item.field_ref.field_path, pod_ip).encode()
    return files


def _hidden(path: str) -> str:
    head, _, base = path.rpartition("/")
    return f"{head}/..{base}.tmp" if head else f"..{base}.tmp"


def projection_archive(files: dict[str, bytes], mode: int, now: float | None = None) -> bytes:
    """A tar of the files under their hidden names (see `swap_command`), each with `mode`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(_hidden(path))
            info.size, info.mode, info.mtime = len(data), mode, int(now if now is not None else time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def swap_command(directory: str, paths: list[str]) -> list[str]:
    """Rename each hidden file over its real name (rename(2): atomic), in the sandbox (busybox `sh`, `mv`)."""
    script = 'cd "$1" && shift && for f; do d=$(dirname "$f"); b=$(basename "$f"); ' \
             'mv -f "$d/..$b.tmp" "$d/$b" || exit 1; done'
    return ["sh", "-c", script, "sh", directory, *sorted(paths)]


class VolumeManager:
    def __init__(self, runtime: DockerRuntime, tokens: TokenManager | None = None, root_ca: bytes = b"",
                 clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.tokens = tokens
        self.root_ca = root_ca
        self.clock = clock
        self._ready: set[str] = set()          # uids whose volumes exist
        # uid -> volume -> (sandbox id, token expiry) of what was last written: a new sandbox (a fresh tmpfs)
        # or a new token means a write.
        self._written: dict[str, dict[str, tuple[str, float]]] = {}

    async def setup(self, pod: Any) -> None:
        uid = pod.metadata.uid
        if uid in self._ready:
            return
        if not any(_mounted(v) for v in pod.spec.volumes):
            self._ready.add(uid)
            return
        existing = {v["Name"] for v in await self.runtime.list_volumes(uid)}
        for v in pod.spec.volumes:
            if not _mounted(v):
                continue
            name = volume_name(uid, v.name)
            if name in existing:
                continue
            opts: dict[str, str] | None = None
            if v.HasField("projected"):
                opts = {"type": "tmpfs", "device": "tmpfs", "o": "mode=0755"}
            elif v.empty_dir.medium == "Memory":
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
            if v.HasField("projected") and m.sub_path:
                raise RuntimeError_("subPath on a projected volume is not supported by kubelab",
                                    "CreateContainerConfigError")
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
                for v in pod.spec.volumes if tmpfs(v)]

    async def project(self, pod: Any, sandbox_id: str, pod_ip: str = "") -> float | None:
        """Fill the pod's projected volumes in its running sandbox: what is missing (a new sandbox) or due (a
        token past 80% of its life). Returns when to look again (Unix seconds; None: no token to refresh).
        RuntimeError_ (FailedMount, in Kubernetes' words) when a volume could not be filled: the caller keeps
        the containers from starting, or (files already there) retries soon."""
        written = self._written.setdefault(pod.metadata.uid, {})
        due: list[float] = []
        for v in pod.spec.volumes:
            if not v.HasField("projected"):
                continue
            token = None
            try:
                for s in v.projected.sources:
                    if s.HasField("service_account_token"):
                        if self.tokens is None:
                            raise RuntimeError_("this kubelet cannot request tokens", "FailedMount")
                        token = await self.tokens.token(pod, s.service_account_token)
                        break
            except RuntimeError_:
                raise
            except Exception as e:  # noqa: BLE001 - the API's refusal, said in the event
                have = written.get(v.name)
                if have is not None and have[0] == sandbox_id:
                    log.warning("token for %s/%s not refreshed: %s", pod.metadata.namespace, pod.metadata.name,
                                getattr(e, "message", e))
                    due.append(self.clock() + TOKEN_RETRY)
                    continue           # the current token stays until it can be replaced
                raise RuntimeError_(f'MountVolume.SetUp failed for volume "{v.name}" : failed to fetch token: '
                                    f'{getattr(e, "message", e)}', "FailedMount") from None
            expiry = token.expires_at if token is not None else 0.0
            if token is not None:
                due.append(token.refresh_at)
            if written.get(v.name) == (sandbox_id, expiry):
                continue
            try:
                files = projected_files(pod, v.projected, token.value if token else "", self.root_ca, pod_ip)
            except RuntimeError_ as e:
                raise RuntimeError_(f'MountVolume.SetUp failed for volume "{v.name}" : {e.message}',
                                    "FailedMount") from None
            mode = v.projected.default_mode if v.projected.HasField("default_mode") else 0o644
            directory = f"{SANDBOX_VOLUMES}/{v.name}"
            await self.runtime.put_archive(sandbox_id, directory, projection_archive(files, mode))
            code, out = await self.runtime.exec_run(sandbox_id, swap_command(directory, list(files)), 10)
            if code != 0:
                raise RuntimeError_(f'MountVolume.SetUp failed for volume "{v.name}" : cannot write its files: '
                                    f'{(out or "").strip()}', "FailedMount")
            written[v.name] = (sandbox_id, expiry)
            log.debug("wrote projected volume %s of %s/%s", v.name, pod.metadata.namespace, pod.metadata.name)
        return min(due) if due else None

    async def teardown(self, uid: str) -> bool:
        """Remove the pod's volumes; False while some are still in use."""
        self._ready.discard(uid)
        self._written.pop(uid, None)
        if self.tokens is not None:
            self.tokens.forget(uid)
        ok = True
        for v in await self.runtime.list_volumes(uid):
            ok = await self.runtime.remove_volume(v["Name"]) and ok
        return ok
