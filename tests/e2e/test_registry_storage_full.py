"""The lab registry's storage full: `kubelab image load` of an image larger than the space left fails with a
clear error (Docker alone says `500 Internal Server Error`), and nothing half-written is served: the
registry has no tag or manifest for the name, `docker pull` fails with `manifest unknown`, and a pod of it
waits ErrImagePull with the same words, never running a corrupt image.

The registry on localhost:5000 is, for this test, the same image with its storage on a 16 MiB tmpfs (the
lab's own registry is stopped meanwhile and started again afterwards, its volume untouched).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .conftest import docker, kubectl, unique, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SMALL = "kubelab-e2e-registry-full"
BIG = "e2e-big:v1"                       # ~40 MB of random bytes: gzip cannot shrink it under 16 MiB
TARGET = "localhost:5000/e2e-big:v1"


def wait_v2() -> bool:
    try:
        with urllib.request.urlopen("http://127.0.0.1:5000/v2/", timeout=3) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def small_registry(lab: dict[str, Any], tmp_path: Path) -> Any:
    (tmp_path / "Dockerfile").write_text('FROM kubelab/busybox:latest\n'
                                         'RUN dd if=/dev/urandom of=/blob bs=1M count=40\n'
                                         'CMD ["sleep", "3600"]\n')
    docker("build", "--pull=false", "-q", "-t", BIG, str(tmp_path), timeout=300)
    docker("stop", "kubelab-registry")
    try:
        docker("run", "-d", "--name", SMALL, "--label", "io.kubelab.lab=e2e-registry-full",
               "--tmpfs", "/var/lib/docker-registry:size=16m", "-p", "127.0.0.1:5000:5000",
               "kubelab/registry:latest")
        wait_for(wait_v2, 30, "the small registry to answer")
        yield
    finally:
        docker("rm", "-f", SMALL, check=False)
        docker("start", "kubelab-registry")
        wait_for(wait_v2, 60, "the lab registry back")
        docker("image", "rm", BIG, TARGET, check=False)


def test_a_push_that_fills_the_storage_fails_clearly_and_nothing_is_served(small_registry: Any) -> None:
    load = kubectl("image", "load", BIG, namespace=None, check=False, timeout=400)
    assert load.returncode != 0
    assert "the lab registry's storage is full (no space left on device)" in load.stderr, load.stderr
    assert f"nothing of {TARGET} was stored" in load.stderr, load.stderr

    # Nothing served under the name: no tag, no manifest.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen("http://127.0.0.1:5000/v2/e2e-big/manifests/v1", timeout=10)
    assert e.value.code == 404
    assert json.loads(e.value.read())["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    docker("image", "rm", TARGET)
    pull = docker("pull", TARGET, check=False)
    assert pull.returncode != 0 and "manifest unknown" in pull.stderr, pull.stderr

    # A pod of it never runs a half-pushed image: ErrImagePull in the registry's words.
    name = unique("full")
    kubectl("run", name, f"--image={TARGET}", "--restart=Never")
    try:
        def err_image_pull() -> str | None:
            p = json.loads(kubectl("get", "pod", name, "-o", "json").stdout)
            cs = (p.get("status", {}).get("containerStatuses") or [{}])[0]
            w = (cs.get("state") or {}).get("waiting") or {}
            return w.get("message") if w.get("reason") == "ErrImagePull" else None
        msg = wait_for(err_image_pull, 90, "ErrImagePull", interval=0.3)
        assert "manifest unknown" in msg, msg
        p = json.loads(kubectl("get", "pod", name, "-o", "json").stdout)
        assert not p["status"]["containerStatuses"][0].get("imageID")
    finally:
        kubectl("delete", "pod", name, "--wait=false")
