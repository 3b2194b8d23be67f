"""Pod volumes (kubelet.volumes) without Docker: the engine's volume calls are played by a directory per
volume under a tmp dir (created, listed by label, removed unless a container still holds it), so setup,
mounts and teardown are checked as the kubelet makes them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubelab.client import new_object
from kubelet.docker_runtime import L_NODE, L_UID, L_VOLUME, DockerRuntime, RuntimeError_
from kubelet.volumes import VolumeManager, volume_name


class DirVolumes(DockerRuntime):
    """The volume side of DockerRuntime on a directory: one sub-directory per named volume, its labels and
    driver options beside it; a volume whose directory holds a `busy` file is in use (not removed). A subclass,
    so a signature that drifts from the real runtime's is a type error."""

    def __init__(self, root: Path, node_name: str = "node1", api_version: str = "1.45") -> None:   # no engine
        self.root, self.node_name, self._api_version = root, node_name, api_version
        self.created: list[str] = []

    @property
    def api_version(self) -> str:
        return self._api_version

    async def create_volume(self, name: str, labels: dict[str, str], driver_opts: dict[str, str] | None = None) -> None:
        (self.root / name).mkdir()
        (self.root / f"{name}.json").write_text(json.dumps({"Labels": labels, "Options": driver_opts}))
        self.created.append(name)

    async def list_volumes(self, uid: str | None = None, all_nodes: bool = False) -> list[dict[str, Any]]:
        out = []
        for meta in sorted(self.root.glob("*.json")):
            doc = json.loads(meta.read_text())
            if doc["Labels"].get(L_NODE) == self.node_name and (uid is None or doc["Labels"].get(L_UID) == uid):
                out.append({"Name": meta.stem, **doc})
        return out

    async def remove_volume(self, name: str) -> bool:
        if (self.root / name / "busy").exists():
            return False
        (self.root / f"{name}.json").unlink(missing_ok=True)
        if (self.root / name).exists():
            (self.root / name).rmdir()
        return True


def pod_with_volumes() -> Any:
    p = new_object("Pod", "web", "shop")
    p.metadata.uid = "uid-1"
    p.spec.volumes.add(name="cache").empty_dir.SetInParent()
    ram = p.spec.volumes.add(name="ram")
    ram.empty_dir.medium = "Memory"
    ram.empty_dir.size_limit = "64Mi"
    p.spec.volumes.add(name="logs").host_path.path = "/var/log/"
    c = p.spec.containers.add(name="app", image="kubelab/web")
    c.volume_mounts.add(name="cache", mount_path="/cache")
    c.volume_mounts.add(name="ram", mount_path="/ram", read_only=True)
    c.volume_mounts.add(name="logs", mount_path="/logs", sub_path="app")
    return p


async def test_setup_creates_one_volume_per_empty_dir_once(tmp_path: Path) -> None:
    rt = DirVolumes(tmp_path)
    vm = VolumeManager(rt)
    p = pod_with_volumes()
    await vm.setup(p)
    await vm.setup(p)                                  # a second sync creates nothing
    assert rt.created == [volume_name("uid-1", "cache"), volume_name("uid-1", "ram")] == [
        "kubelab-uid-1-cache", "kubelab-uid-1-ram"]
    vols = {v["Name"]: v for v in await rt.list_volumes("uid-1")}
    assert vols["kubelab-uid-1-cache"]["Options"] is None
    assert vols["kubelab-uid-1-ram"]["Options"] == {"type": "tmpfs", "device": "tmpfs",
                                                    "o": f"mode=1777,size={64 * 1024 * 1024}"}
    assert vols["kubelab-uid-1-ram"]["Labels"][L_VOLUME] == "ram"
    # A kubelet restarted finds the volumes there and leaves them.
    again = VolumeManager(rt)
    await again.setup(p)
    assert len(rt.created) == 2


async def test_a_pod_without_empty_dirs_asks_the_engine_nothing(tmp_path: Path) -> None:
    rt = DirVolumes(tmp_path / "missing")              # any call would fail on the missing directory
    p = new_object("Pod", "web", "shop")
    p.spec.volumes.add(name="logs").host_path.path = "/var/log"
    await VolumeManager(rt).setup(p)


def test_mounts_empty_dirs_as_volumes_and_host_paths_as_binds(tmp_path: Path) -> None:
    p = pod_with_volumes()
    mounts, binds = VolumeManager(DirVolumes(tmp_path)).mounts(p, p.spec.containers[0])
    assert mounts == [
        {"Type": "volume", "Source": "kubelab-uid-1-cache", "Target": "/cache", "ReadOnly": False,
         "VolumeOptions": {"NoCopy": True}},
        {"Type": "volume", "Source": "kubelab-uid-1-ram", "Target": "/ram", "ReadOnly": True,
         "VolumeOptions": {"NoCopy": True}}]
    assert binds == ["/var/log/app:/logs:rw"]


def test_sub_path_on_an_empty_dir_needs_docker_api_1_45(tmp_path: Path) -> None:
    p = pod_with_volumes()
    p.spec.containers[0].volume_mounts[0].sub_path = "a/b"
    mounts, _ = VolumeManager(DirVolumes(tmp_path)).mounts(p, p.spec.containers[0])
    assert mounts[0]["VolumeOptions"] == {"NoCopy": True, "Subpath": "a/b"}
    old = VolumeManager(DirVolumes(tmp_path, api_version="1.43"))
    with pytest.raises(RuntimeError_) as e:
        old.mounts(p, p.spec.containers[0])
    assert e.value.reason == "CreateContainerConfigError" and "1.45" in e.value.message and "1.43" in e.value.message


def test_a_mount_of_an_undeclared_volume_is_a_config_error(tmp_path: Path) -> None:
    p = pod_with_volumes()
    p.spec.containers[0].volume_mounts.add(name="nope", mount_path="/x")
    with pytest.raises(RuntimeError_) as e:
        VolumeManager(DirVolumes(tmp_path)).mounts(p, p.spec.containers[0])
    assert (e.value.reason, e.value.message) == ("CreateContainerConfigError", 'volume "nope" not found')


def test_memory_empty_dirs_are_also_held_by_the_sandbox(tmp_path: Path) -> None:
    mounts = VolumeManager(DirVolumes(tmp_path)).sandbox_mounts(pod_with_volumes())
    assert mounts == [{"Type": "volume", "Source": "kubelab-uid-1-ram", "Target": "/.kubelab/volumes/ram",
                       "ReadOnly": False}]


async def test_teardown_removes_the_pods_volumes_and_says_when_one_is_still_held(tmp_path: Path) -> None:
    rt = DirVolumes(tmp_path)
    vm = VolumeManager(rt)
    p = pod_with_volumes()
    other = new_object("Pod", "db", "shop")
    other.metadata.uid = "uid-2"
    other.spec.volumes.add(name="data").empty_dir.SetInParent()
    await vm.setup(p)
    await vm.setup(other)
    (tmp_path / "kubelab-uid-1-ram" / "busy").touch()
    assert not await vm.teardown("uid-1")              # one still in use: try again later
    assert [v["Name"] for v in await rt.list_volumes("uid-1")] == ["kubelab-uid-1-ram"]
    (tmp_path / "kubelab-uid-1-ram" / "busy").unlink()
    assert await vm.teardown("uid-1")
    assert await rt.list_volumes("uid-1") == []
    assert [v["Name"] for v in await rt.list_volumes()] == ["kubelab-uid-2-data"]     # another pod's stays
    await vm.setup(p)                                  # the same uid again after teardown: made anew
    assert rt.created.count("kubelab-uid-1-cache") == 2
