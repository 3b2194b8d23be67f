"""No push replaces a tutorial's image: the kubelets pull `nginx:1.16` & co. from the lab's read-only mirror
(compose's registry-mirror, localhost:5001), which refuses a push; a push of the same path to the users'
registry (localhost:5000/docker.io/library/nginx:1.16) is accepted there and changes nothing the pods get.
"""
from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from .conftest import docker, kubectl, unique, wait_running_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

STAND_IN = "nginx:1.16"
MIRRORED = "localhost:5001/docker.io/library/nginx:1.16"
SAME_PATH_IN_USERS_REGISTRY = "localhost:5000/docker.io/library/nginx:1.16"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def served_digest(api: str, repo: str, tag: str) -> str:
    req = urllib.request.Request(f"{api}/v2/{repo}/manifests/{tag}", method="HEAD", headers={"Accept": MANIFEST})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers["Docker-Content-Digest"]


def image_labels_of_pod(name: str) -> dict[str, str]:
    """The labels of the image the pod's container runs, as the engine has it."""
    pod = json.loads(kubectl("get", "pod", name, "-o", "json").stdout)
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    image_id = docker("inspect", "--format", "{{.Image}}", cid).stdout.strip()
    return json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", image_id).stdout) or {}


def test_a_push_over_a_stand_in_is_refused_or_kept_apart(lab: dict[str, Any]) -> None:
    before = served_digest("http://127.0.0.1:5001", "docker.io/library/nginx", "1.16")
    stand_in_id = docker("image", "inspect", "--format", "{{.Id}}", MIRRORED).stdout.strip()
    try:
        # 1. Straight at the mirror: refused, in the registry's words.
        docker("tag", "kubelab/hello:v1", MIRRORED)
        refused = docker("push", MIRRORED, check=False)
        assert refused.returncode != 0
        assert "405" in refused.stderr and "Method not allowed" in refused.stderr, refused.stderr
        # 2. The same path in the users' registry: accepted there, apart from the stand-in.
        docker("tag", "kubelab/hello:v1", SAME_PATH_IN_USERS_REGISTRY)
        docker("push", SAME_PATH_IN_USERS_REGISTRY)
    finally:
        docker("tag", stand_in_id, MIRRORED)          # the engine's copy of the stand-in, as it was
        docker("image", "rm", SAME_PATH_IN_USERS_REGISTRY, check=False)
    assert served_digest("http://127.0.0.1:5001", "docker.io/library/nginx", "1.16") == before
    assert served_digest("http://127.0.0.1:5000", "docker.io/library/nginx", "1.16") != before

    # 3. A pod of nginx:1.16 pulling (Always) gets the stand-in, not what was pushed.
    name = unique("mirror")
    kubectl("run", name, f"--image={STAND_IN}", "--image-pull-policy=Always", "--restart=Never")
    wait_running_ready(name, timeout=120)
    try:
        assert image_labels_of_pod(name).get("io.kubelab.stand-in-for") == STAND_IN
        events = kubectl("describe", "pod", name).stdout
        assert f'Successfully pulled image "{STAND_IN}"' in events, events
    finally:
        kubectl("delete", "pod", name, "--wait=false")


def test_kubelab_image_ls_shows_the_mirror_read_only_names(lab: dict[str, Any]) -> None:
    listing = kubectl("image", "ls", namespace=None).stdout
    assert any(line.split()[:1] == ["localhost:5001/docker.io/library/nginx"] and "1.16" in line
               for line in listing.splitlines()), listing
    refused = kubectl("image", "load", MIRRORED, namespace=None, check=False)
    assert refused.returncode != 0 and "read-only mirror" in refused.stderr, refused.stderr
