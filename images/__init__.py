"""kubelab's local Docker images: see images/build.py and images/README.md."""
from .build import IMAGES, BuildError, build_all

__all__ = ["IMAGES", "BuildError", "build_all"]
