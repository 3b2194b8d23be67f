"""The lab's image catalogue: every image `images/build.py` makes, in build order.

One list, read by three: the image builder (what it builds; it loads this file by path, so it
needs nothing but the standard library), the compose lab driver (`lab/compose.py`: what a lab
needs before it starts) and the hollow kubelet (`kubelet/hollow.py`: a pull of a `kubelab/` image
outside this list fails, as it would on a lab node, since there is no registry).

Plain data, no imports: keep it that way (images/build.py runs it without the package).
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
    "kubelab/kubelab:latest",
)
