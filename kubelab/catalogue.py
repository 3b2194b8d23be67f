"""The lab's image catalogue: every image `images/build.py` makes, in build order, and the stand-ins the
lab registry serves under the tutorials' own names.

Read by: the image builder (what it builds; it loads this file by path, so it needs nothing but the
standard library), the compose lab driver (`lab/compose.py`: what a lab needs before it starts, what it
pushes into the lab's mirror), the kubelet (`kubelet/pulls.py`: which pulls go to the lab's mirror) and
the hollow kubelet (`kubelet/hollow.py`: which pulls succeed on a simulated node).

Plain data and small functions, no imports: keep it that way (images/build.py runs it without the package).
"""
from __future__ import annotations

CATALOGUE: tuple[str, ...] = (
    "kubelab/base:latest",
    "kubelab/busybox:latest",
    "kubelab/pause:latest",
    "kubelab/etcd:latest",
    "kubelab/web:latest",
    "kubelab/debian:latest",
    "kubelab/hello:v1",
    "kubelab/hello:v2",
    "kubelab/bootcamp:v1",
    "kubelab/bootcamp:v2",
    "kubelab/fluentd:latest",
    "kubelab/registry:latest",
    "kubelab/kubelab:latest",
    "kubelab/pyclient:latest",        # lab test image: the official Python client, for in-cluster tests
)

# The lab registry as the host's Docker engine reaches it (compose publishes it on the host's loopback;
# the nodes' kubelets use the host's engine, so their pulls of localhost:5000/... come here too). Writable:
# what users push (docker push localhost:5000/..., kubelab image load).
REGISTRY = "localhost:5000"
# The lab's mirror: a second instance of the same registry, READ-ONLY (Distribution's
# storage.maintenance.readonly), serving only the stand-ins below. The kubelets pull the tutorials' names
# from here, so no push can replace a stand-in: a push here is refused, and a push of the same path to
# REGISTRY lands in the user's registry, which no mirrored pull reads. lab/compose.py fills it at lab start
# through a short-lived writable instance on its storage.
MIRROR = "localhost:5001"

# Lab stand-ins for the tutorials' images: (the name, normalised as Docker does: docker.io/library/nginx,
# the lab image it is made from). Each is that image plus a label saying what it stands for
# (STAND_IN_LABEL); the mirror serves it as MIRROR/<name> (mirrored()).
STAND_INS: tuple[tuple[str, str], ...] = (
    ("docker.io/library/nginx:latest", "kubelab/web:latest"),
    ("docker.io/library/nginx:1.12", "kubelab/web:latest"),
    ("docker.io/library/nginx:1.15", "kubelab/web:latest"),
    ("docker.io/library/nginx:1.16", "kubelab/web:latest"),
    ("docker.io/library/debian:stretch", "kubelab/debian:latest"),
    ("docker.io/library/debian:latest", "kubelab/debian:latest"),
    ("docker.io/library/busybox:latest", "kubelab/busybox:latest"),
    ("docker.io/fluent/fluentd:v1.11", "kubelab/fluentd:latest"),
    ("docker.io/jocatalin/kubernetes-bootcamp:v1", "kubelab/bootcamp:v1"),
    ("docker.io/jocatalin/kubernetes-bootcamp:v2", "kubelab/bootcamp:v2"),
    ("gcr.io/google-samples/kubernetes-bootcamp:v1", "kubelab/bootcamp:v1"),
)
STAND_IN_LABEL = "io.kubelab.stand-in-for"


def mirrored(name: str) -> str:
    """The lab mirror's name for a normalised name: docker.io/library/nginx:1.16 →
    localhost:5001/docker.io/library/nginx:1.16."""
    return f"{MIRROR}/{name}"


def mirrored_repositories() -> frozenset[str]:
    """The repositories (normalised, no tag) whose pulls go to the lab registry."""
    return frozenset(name.rsplit(":", 1)[0] for name, _ in STAND_INS)


def familiar(name: str) -> str:
    """What Docker shows for a normalised name: docker.io/library/nginx:1.16 → nginx:1.16."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name
