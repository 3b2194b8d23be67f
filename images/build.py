#!/usr/bin/env python3
"""Build kubelab's local Docker images from Debian's packages and PyPI.

The Docker engine here can pull nothing, so every image is made locally:

    kubelab/base:latest     Debian minbase rootfs (mmdebstrap) + python3 + venv at /opt/venv
    kubelab/busybox:latest  Debian's busybox-static, one symlink per applet (tar built here)
    kubelab/pause:latest    pod infra container: sleeps, exits at once on SIGTERM
    kubelab/etcd:latest     base + etcd/etcdctl from Debian's etcd-server/etcd-client
    kubelab/web:latest      Debian's nginx on :80 serving /usr/share/nginx/html, logs on stdout/stderr
    kubelab/debian:latest   Debian (bash, apt, the machine's mirror) for debian/ubuntu images in tutorials
    kubelab/hello:v1, :v2   "Hello kubelab! | Running on: <hostname> | v=N" on :8080
    kubelab/bootcamp:v1,:v2 hello answering as jocatalin/kubernetes-bootcamp does (a stand-in)
    kubelab/fluentd:latest  follows /var/log/nginx/*.log and prints each line (a fluentd stand-in)
    kubelab/registry:latest Debian's docker-registry (Distribution 2.x): the lab registry
    kubelab/kubelab:latest  base + the project and its dependencies installed from wheels

Then (a full build, or --only stand-ins) images/standins.py builds the tutorials' image names as
labelled variants of these (kubelab/catalogue.py's STAND_INS).

Usage: python3 images/build.py [--only NAME ...] [--force] [--list]

Each image carries a label kubelab.build-hash: the hash of its inputs (recipe
files, package versions, parent image id, project sources). An image whose
label matches is left alone ("cached"); anything else is rebuilt.

No mirror or registry host is written anywhere: the Debian mirror comes from
the machine's own apt sources at run time, PyPI from pip's defaults.

Only the standard library and the `docker` CLI (and, for the rootfs, apt-get,
dpkg-deb and mmdebstrap) are used.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

IMAGES_DIR = Path(__file__).resolve().parent
REPO_ROOT = IMAGES_DIR.parent
CACHE_DIR = IMAGES_DIR / ".cache"          # build logs (git-ignored)
LOG_DIR = CACHE_DIR / "logs"
LOCK_FILE = Path(tempfile.gettempdir()) / "kubelab-images.lock"

HASH_LABEL = "kubelab.build-hash"
STAGE_LABEL = "kubelab.build-stage"   # on intermediate stages, pruned after the build
# Bump to force every image to rebuild after a change to this script's logic.
RECIPE_VERSION = "1"

BASE_PACKAGES = ["python3", "python3-venv", "ca-certificates"]
BASE_PATH = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# dpkg path filters: no man pages, docs (but keep copyright files) or translations.
DPKG_OPTS = [
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/lintian/*",
]
CUSTOMIZE_HOOKS = [
    # mmdebstrap copies these from the host: the engine provides its own.
    'rm -f "$1/etc/resolv.conf" "$1/etc/hostname"',
    # Debian's python refuses system-wide pip (EXTERNALLY-MANAGED): a venv.
    'chroot "$1" python3 -m venv /opt/venv',
    # (mmdebstrap's own cleanup then removes apt's lists and caches.)
    'rm -rf "$1"/root/.cache "$1"/var/log/apt/eipp.log.xz',
]
# docker import --change instructions (the image config of the imported rootfs).
BASE_CHANGES = [
    f"ENV PATH={BASE_PATH}",
    "ENV LANG=C.UTF-8",
    "ENV VIRTUAL_ENV=/opt/venv",
    "ENV PYTHONUNBUFFERED=1",
    'CMD ["python3"]',
]
BUSYBOX_CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["sh"]',
]
MERGED_USR_HOOKS = Path("/usr/share/mmdebstrap/hooks/merged-usr")
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")

# Busybox rootfs: fixed owner and mtime make the tarball byte-for-byte reproducible.
TAR_MTIME = 1704067200  # 2024-01-01T00:00:00Z

# pip settings for the wheels of kubelab/kubelab (cp311 manylinux, as in the base).
PIP_PLATFORM_ARGS = [
    "--only-binary=:all:",
    "--platform", "manylinux2014_x86_64",
    "--platform", "manylinux_2_17_x86_64",
    "--platform", "manylinux_2_28_x86_64",
    "--python-version", "3.11",
    "--implementation", "cp",
    "--abi", "cp311",
]
# What is never part of the project's sources when building its wheel
# (top-level directories; below them only __pycache__, *.egg-info and dot-dirs).
PROJECT_EXCLUDE_DIRS = {
    "venv", "env", "build", "dist", "node_modules", "images", "tests", "docs", "bench",
    "scripts", "proto",
}
PROJECT_EXCLUDE_FILES = ["*.whl", "*.pyc", "*.pyo", ".coverage"]
PROJECT_TOP_FILES = ["pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in",
                     "README*", "LICENSE*", "COPYING*"]


class BuildError(RuntimeError):
    pass


# --------------------------------------------------------------------------
# small helpers

def log(msg: str = "") -> None:
    print(msg, flush=True)


def step(msg: str) -> None:
    log(f"      - {msg}")


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} GB"


class Runner:
    """Runs commands, appending their output to a per-image log file."""

    def __init__(self, log_path: Path | None) -> None:
        self.log_path = log_path
        if log_path:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text("")

    def run(self, cmd: Sequence[str], *, cwd: Path | None = None, env: dict | None = None,
            input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
        full_env = None
        if env:
            full_env = dict(os.environ)
            full_env.update(env)
        proc = subprocess.run(list(cmd), cwd=cwd, env=full_env, input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = proc.stdout.decode("utf-8", "replace")
        if self.log_path:
            with self.log_path.open("a") as f:
                f.write(f"$ {' '.join(cmd)}\n{out}\n[exit {proc.returncode}]\n")
        if check and proc.returncode != 0:
            tail = "\n".join(out.rstrip().splitlines()[-25:])
            where = f" (full log: {self.log_path})" if self.log_path else ""
            raise BuildError(f"command failed ({proc.returncode}): {' '.join(cmd)}{where}\n{tail}")
        return proc

    def output(self, cmd: Sequence[str], **kw) -> str:
        return self.run(cmd, **kw).stdout.decode("utf-8", "replace")


def quiet(cmd: Sequence[str]) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def is_root() -> bool:
    return os.geteuid() == 0


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_dir(path: Path) -> list[str]:
    """Stable list of 'relpath sha256 mode' for every file under path."""
    out = []
    for p in sorted(path.rglob("*")):
        if "__pycache__" in p.parts:
            continue
        rel = p.relative_to(path).as_posix()
        if p.is_symlink():
            out.append(f"{rel} -> {os.readlink(p)}")
        elif p.is_file():
            out.append(f"{rel} {sha256_file(p)} {p.stat().st_mode & 0o111 != 0}")
    return out


def digest(parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


# --------------------------------------------------------------------------
# docker

def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    return quiet(["docker", "version", "--format", "{{.Server.Version}}"]).returncode == 0


def image_inspect(ref: str) -> dict | None:
    p = quiet(["docker", "image", "inspect", ref])
    if p.returncode != 0:
        return None
    data = json.loads(p.stdout)
    return data[0] if data else None


def image_label(info: dict | None, key: str) -> str | None:
    if not info:
        return None
    labels = (info.get("Config") or {}).get("Labels") or {}
    return labels.get(key)


def image_id(ref: str) -> str:
    info = image_inspect(ref)
    if not info:
        raise BuildError(f"image {ref} does not exist")
    return info["Id"]


def docker_build(r: Runner, context: Path, ref: str, build_hash: str,
                 build_args: dict[str, str] | None = None) -> None:
    cmd = ["docker", "build", "--pull=false", "--label", f"{HASH_LABEL}={build_hash}", "-t", ref]
    for k, v in (build_args or {}).items():
        cmd += ["--build-arg", f"{k}={v}"]
    cmd.append(str(context))
    r.run(cmd)


def docker_import(r: Runner, tarball: Path, ref: str, build_hash: str, changes: list[str]) -> None:
    cmd = ["docker", "import"]
    for c in changes + [f"LABEL {HASH_LABEL}={build_hash}"]:
        cmd += ["--change", c]
    cmd += [str(tarball), ref]
    r.run(cmd)


# --------------------------------------------------------------------------
# apt: the machine's own sources, package versions and downloads

# Every package whose version goes into a build hash: looked up in one apt-cache call.
APT_PACKAGES = ["busybox-static", "etcd-server", "etcd-client", "nginx", "docker-registry"]
_APT_VERSIONS: dict[str, str] | None = None


def _apt_cache_versions(packages: list[str]) -> dict[str, str]:
    p = quiet(["apt-cache", "show", "--no-all-versions", *packages])
    versions, pkg = {}, None
    for line in p.stdout.splitlines():
        if line.startswith("Package:"):
            pkg = line.split(":", 1)[1].strip()
        elif line.startswith("Version:") and pkg:
            versions.setdefault(pkg, line.split(":", 1)[1].strip())
    return versions


def ensure_apt_lists(r: Runner) -> dict[str, str]:
    """Versions of APT_PACKAGES; runs apt-get update first when apt has no
    package lists yet (a fresh machine) or they lack one of those packages."""
    global _APT_VERSIONS
    if _APT_VERSIONS is not None:
        return _APT_VERSIONS
    if not shutil.which("apt-get"):
        raise BuildError("apt-get not found: these images are made from Debian's packages")
    versions = _apt_cache_versions(APT_PACKAGES)
    if any(p not in versions for p in APT_PACKAGES):
        if not is_root():
            raise BuildError("apt has no package lists (or lacks "
                             f"{', '.join(p for p in APT_PACKAGES if p not in versions)}): "
                             "run 'apt-get update' as root first")
        step("apt-get update (package lists missing)")
        for attempt in range(5):  # another apt may hold the lists lock for a while
            if r.run(["apt-get", "update"], env={"DEBIAN_FRONTEND": "noninteractive"},
                     check=attempt == 4).returncode == 0:
                break
            time.sleep(5)
        versions = _apt_cache_versions(APT_PACKAGES)
        missing = [p for p in APT_PACKAGES if p not in versions]
        if missing:
            raise BuildError(f"apt knows no package {', '.join(missing)} even after apt-get update")
    _APT_VERSIONS = versions
    return versions


def apt_version(r: Runner, package: str) -> str:
    return ensure_apt_lists(r)[package]


def apt_download(r: Runner, packages: list[str], dest: Path) -> dict[str, Path]:
    """Download .debs into dest; returns {package: path}."""
    ensure_apt_lists(r)
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o777)  # apt's sandbox user must be able to write there
    if r.run(["apt-get", "download", *packages], cwd=dest, check=not is_root()).returncode != 0:
        # Stale package lists name .debs the mirror no longer has: refresh, retry.
        step("apt-get download failed: apt-get update, then again")
        r.run(["apt-get", "update"], env={"DEBIAN_FRONTEND": "noninteractive"})
        r.run(["apt-get", "download", *packages], cwd=dest)
    found = {}
    for pkg in packages:
        debs = sorted(dest.glob(f"{pkg}_*.deb"))
        if not debs:
            raise BuildError(f"apt-get download {pkg} produced no .deb")
        found[pkg] = debs[-1]
    return found


def _sibling(name: str):  # noqa: ANN202 - a module of images/, loaded by path (this script may run alone)
    spec = importlib.util.spec_from_file_location(f"kubelab_images_{name}", IMAGES_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module      # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


_apt_sources = _sibling("aptsources")
AptSources = _apt_sources.AptSources


def read_apt_sources(etc_apt: Path = Path("/etc/apt")) -> AptSources:
    """The host's own Debian sources (images/aptsources.py)."""
    try:
        return _apt_sources.read_apt_sources(etc_apt)
    except _apt_sources.AptSourcesError as e:
        raise BuildError(str(e)) from e


def ensure_mmdebstrap(r: Runner) -> str:
    exe = shutil.which("mmdebstrap")
    missing = [] if exe else ["mmdebstrap"]
    if not DEBIAN_KEYRING.exists():
        missing.append("debian-archive-keyring")
    if missing:
        if not is_root():
            raise BuildError(f"missing {', '.join(missing)}: apt-get install -y {' '.join(missing)} (as root)")
        ensure_apt_lists(r)
        step(f"apt-get install -y {' '.join(missing)}")
        r.run(["apt-get", "install", "-y", *missing], env={"DEBIAN_FRONTEND": "noninteractive"})
        exe = shutil.which("mmdebstrap")
        if not exe:
            raise BuildError("mmdebstrap still missing after apt-get install")
    return exe


# --------------------------------------------------------------------------
# the project (for kubelab/kubelab)

def project_files(root: Path) -> list[Path]:
    """The files that make the project's wheel: top-level metadata files plus
    the package directories (from [tool.setuptools.packages.find] include=
    when present, else every top-level directory but tests, images, ...)."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        raise BuildError(f"{pyproject} does not exist: cannot build kubelab/kubelab yet")
    meta = tomllib.loads(pyproject.read_text())
    include = (meta.get("tool", {}).get("setuptools", {}).get("packages", {})
               .get("find", {}).get("include"))
    files: list[Path] = []
    for top in sorted(root.iterdir()):
        name = top.name
        if top.is_file():
            if any(fnmatch.fnmatch(name, pat) for pat in PROJECT_TOP_FILES):
                files.append(top)
            continue
        if not top.is_dir() or name in PROJECT_EXCLUDE_DIRS or name.startswith(".") or name.endswith(".egg-info"):
            continue
        if include and not any(fnmatch.fnmatch(name, pat) for pat in include):
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__"
                                 and not d.startswith(".") and not d.endswith(".egg-info"))
            for fn in sorted(filenames):
                if not any(fnmatch.fnmatch(fn, pat) for pat in PROJECT_EXCLUDE_FILES):
                    files.append(Path(dirpath) / fn)
    return files


def pip_python() -> str:
    """A Python 3 on the host that has pip: this one, else python3 on PATH."""
    for cand in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        if cand and quiet([cand, "-m", "pip", "--version"]).returncode == 0:
            return cand
    raise BuildError("no Python with pip on the host (needed to fetch wheels): "
                     "apt-get install python3-pip")


def project_name(root: Path) -> str:
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    name = meta.get("project", {}).get("name")
    if not name:
        raise BuildError(f"{root / 'pyproject.toml'} has no [project] name")
    return name


# --------------------------------------------------------------------------
# the images

@dataclass
class Ctx:
    runner: Runner
    tmp: Path
    project_root: Path


@dataclass
class Image:
    ref: str
    parent: str | None
    inputs: Callable[[Ctx], object]        # anything JSON-able that identifies the build
    build: Callable[[Ctx, str], None]      # (ctx, build_hash) -> creates ref
    what: str

    @property
    def short(self) -> str:
        repo, _, tag = self.ref.partition(":")
        name = repo.split("/", 1)[1]
        return name if tag == "latest" else f"{name}:{tag}"


# ---- kubelab/base

def _base_args(src: AptSources) -> list[str]:
    args = ["--variant=minbase", "--include=" + ",".join(BASE_PACKAGES),
            f"--hook-dir={MERGED_USR_HOOKS}"]
    args += [f"--dpkgopt={o}" for o in DPKG_OPTS]
    args += [f"--customize-hook={h}" for h in CUSTOMIZE_HOOKS]
    return args


def base_inputs(ctx: Ctx) -> object:
    src = read_apt_sources()
    arch = quiet(["dpkg", "--print-architecture"]).stdout.strip()
    return {"args": _base_args(src), "suite": src.suite, "sources": src.text,
            "arch": arch, "changes": BASE_CHANGES}


def base_build(ctx: Ctx, h: str) -> None:
    r = ctx.runner
    exe = ensure_mmdebstrap(r)
    src = read_apt_sources()
    ext = ".sources" if src.fmt == "deb822" else ".list"
    sources_file = ctx.tmp / f"kubelab{ext}"
    sources_file.write_text(src.text)
    rootfs = ctx.tmp / "rootfs.tar"
    step(f"mmdebstrap {src.suite} minbase + {', '.join(BASE_PACKAGES)} (network-bound, ~1 min)")
    t = time.monotonic()
    r.run([exe, *_base_args(src), src.suite, str(rootfs), str(sources_file)])
    step(f"rootfs {human(rootfs.stat().st_size)} in {time.monotonic() - t:.1f}s; docker import")
    docker_import(r, rootfs, "kubelab/base:latest", h, BASE_CHANGES)


# ---- kubelab/busybox

def busybox_inputs(ctx: Ctx) -> object:
    return {"busybox-static": apt_version(ctx.runner, "busybox-static"),
            "rootfs": hash_dir(IMAGES_DIR / "busybox"), "mtime": TAR_MTIME,
            "changes": BUSYBOX_CHANGES}


def make_busybox_tar(busybox: Path, applets: list[str], extra_root: Path,
                     copyright: Path | None, out: Path) -> None:
    """A reproducible rootfs tarball: /bin/busybox, /bin/<applet> -> busybox,
    /usr/bin, /usr/sbin -> ../bin, /sbin -> bin, /etc files, /tmp 1777."""
    entries: list[tuple[tarfile.TarInfo, bytes | None]] = []

    def add_dir(name: str, mode: int = 0o755) -> None:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode = tarfile.DIRTYPE, mode
        entries.append((ti, None))

    def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode = len(data), mode
        entries.append((ti, data))

    def add_link(name: str, target: str) -> None:
        ti = tarfile.TarInfo(name)
        ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, target, 0o777
        entries.append((ti, None))

    for d in ["bin", "dev", "etc", "home", "proc", "run", "sys", "usr", "usr/local",
              "usr/local/bin", "usr/share", "usr/share/doc", "var", "var/log", "var/lib",
              "var/spool", "var/www", "mnt", "opt", "srv"]:
        add_dir(d)
    add_dir("root", 0o700)
    add_dir("tmp", 0o1777)
    add_dir("var/tmp", 0o1777)
    add_link("usr/bin", "../bin")
    add_link("usr/sbin", "../bin")
    add_link("sbin", "bin")
    add_link("var/run", "../run")
    add_file("bin/busybox", busybox.read_bytes(), 0o755)
    for a in sorted(set(applets) - {"busybox"}):
        if "/" not in a and a:
            add_link(f"bin/{a}", "busybox")
    if copyright:
        add_dir("usr/share/doc/busybox-static")
        add_file("usr/share/doc/busybox-static/copyright", copyright.read_bytes())
    rootfs_extra = extra_root / "rootfs"
    for p in sorted(rootfs_extra.rglob("*")):
        rel = p.relative_to(rootfs_extra).as_posix()
        if p.is_dir():
            if not any(ti.name == rel for ti, _ in entries):
                add_dir(rel)
        elif p.is_file():
            add_file(rel, p.read_bytes(), 0o755 if os.access(p, os.X_OK) else 0o644)

    entries.sort(key=lambda e: e[0].name)
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        for ti, data in entries:
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            ti.mtime = TAR_MTIME
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)


def busybox_build(ctx: Ctx, h: str) -> None:
    r = ctx.runner
    step("apt-get download busybox-static")
    debs = apt_download(r, ["busybox-static"], ctx.tmp / "debs")
    x = ctx.tmp / "x"
    r.run(["dpkg-deb", "-x", str(debs["busybox-static"]), str(x)])
    candidates = [x / "bin/busybox", x / "usr/bin/busybox"]
    busybox = next((c for c in candidates if c.is_file()), None)
    if not busybox:
        raise BuildError("busybox-static .deb has no bin/busybox")
    applets = r.output([str(busybox), "--list"]).split()
    if len(applets) < 50:
        raise BuildError(f"busybox --list printed only {len(applets)} applets")
    copyright = x / "usr/share/doc/busybox-static/copyright"
    tarball = ctx.tmp / "busybox-rootfs.tar"
    make_busybox_tar(busybox, applets, IMAGES_DIR / "busybox",
                     copyright if copyright.is_file() else None, tarball)
    step(f"rootfs {human(tarball.stat().st_size)}, {len(applets)} applets; docker import")
    docker_import(r, tarball, "kubelab/busybox:latest", h, BUSYBOX_CHANGES)


# ---- images made with a Dockerfile from a directory under images/

def copy_context(ctx: Ctx, name: str) -> Path:
    dest = ctx.tmp / f"context-{name}"
    shutil.copytree(IMAGES_DIR / name, dest, ignore=shutil.ignore_patterns("__pycache__"))
    for script in dest.rglob("*.sh"):  # COPY keeps the mode: no RUN chmod needed
        script.chmod(0o755)
    return dest


def dockerfile_inputs(name: str, extra: Callable[[Ctx], object] | None = None) -> Callable[[Ctx], object]:
    def inputs(ctx: Ctx) -> object:
        d = {"dir": hash_dir(IMAGES_DIR / name)}
        if extra:
            d["extra"] = extra(ctx)
        return d
    return inputs


def simple_build(name: str, ref: str) -> Callable[[Ctx, str], None]:
    def build(ctx: Ctx, h: str) -> None:
        context = copy_context(ctx, name)
        step("docker build")
        docker_build(ctx.runner, context, ref, h)
    return build


def versioned_build(name: str, version: str, files: Sequence[str]) -> Callable[[Ctx, str], None]:
    """kubelab/<name>:v<version> from images/<name>, with @VERSION@ substituted in `files`."""
    def build(ctx: Ctx, h: str) -> None:
        context = copy_context(ctx, name)
        for f in files:
            p = context / f
            p.write_text(p.read_text().replace("@VERSION@", version))
        step("docker build")
        docker_build(ctx.runner, context, f"kubelab/{name}:v{version}", h)
    return build


def hello_build(version: str) -> Callable[[Ctx, str], None]:
    return versioned_build("hello", version, ("hello-server.sh", "hello-handler.sh", "server.js"))


def etcd_inputs(ctx: Ctx) -> object:
    return {p: apt_version(ctx.runner, p) for p in ("etcd-server", "etcd-client")}


def etcd_build(ctx: Ctx, h: str) -> None:
    r = ctx.runner
    step("apt-get download etcd-server etcd-client")
    debs = apt_download(r, ["etcd-server", "etcd-client"], ctx.tmp / "debs")
    context = copy_context(ctx, "etcd")
    rootfs = context / "rootfs"
    for pkg, binary in (("etcd-server", "etcd"), ("etcd-client", "etcdctl")):
        x = ctx.tmp / f"x-{pkg}"
        r.run(["dpkg-deb", "-x", str(debs[pkg]), str(x)])
        src = x / "usr/bin" / binary
        if not src.is_file():
            raise BuildError(f"{pkg} has no /usr/bin/{binary}")
        (rootfs / "usr/bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, rootfs / "usr/bin" / binary)
        cp = x / "usr/share/doc" / pkg / "copyright"
        if cp.is_file():
            (rootfs / "usr/share/doc" / pkg).mkdir(parents=True, exist_ok=True)
            shutil.copy2(cp, rootfs / "usr/share/doc" / pkg / "copyright")
    step("docker build")
    docker_build(r, context, "kubelab/etcd:latest", h)


def kubelab_inputs(ctx: Ctx) -> object:
    root = ctx.project_root
    files = project_files(root)
    return {"project": [f"{f.relative_to(root).as_posix()} {sha256_file(f)}" for f in files],
            "pip": PIP_PLATFORM_ARGS}


def kubelab_build(ctx: Ctx, h: str) -> None:
    r = ctx.runner
    root = ctx.project_root
    name = project_name(root)
    # Build the wheel from a copy of the sources, so nothing (build/,
    # *.egg-info) is written into the work tree.
    src = ctx.tmp / "project"
    for f in project_files(root):
        dest = src / f.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    context = copy_context(ctx, "kubelab")
    wheels = context / "wheels"
    wheels.mkdir()
    pip_env = {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    py = pip_python()
    step(f"pip wheel {name} (the project, no deps)")
    r.run([py, "-m", "pip", "--isolated", "--disable-pip-version-check", "wheel", "--no-deps", "-w", str(wheels), str(src)], env=pip_env)
    own = sorted(wheels.glob("*.whl"))
    if len(own) != 1:
        raise BuildError(f"expected one project wheel, got {[w.name for w in own]}")
    step("pip download dependencies (cp311 manylinux wheels)")
    r.run([py, "-m", "pip", "--isolated", "--disable-pip-version-check", "download", *PIP_PLATFORM_ARGS,
           "-d", str(wheels), str(own[0])], env=pip_env)
    total = sum(w.stat().st_size for w in wheels.glob("*.whl"))
    step(f"{len(list(wheels.glob('*.whl')))} wheels, {human(total)}; docker build")
    df = context / "Dockerfile"
    df.write_text(df.read_text().replace("@PROJECT@", name))
    docker_build(r, context, "kubelab/kubelab:latest", h)


# The official Python client in kubelab/pyclient, as the project's dev dependency pins it.
PYCLIENT_REQUIREMENT = "kubernetes>=37,<38"


def pyclient_inputs(ctx: Ctx) -> object:
    return {"requirement": PYCLIENT_REQUIREMENT, "pip": PIP_PLATFORM_ARGS}


def pyclient_build(ctx: Ctx, h: str) -> None:
    """kubelab/pyclient: the base image with the `kubernetes` client, its wheels downloaded here (PyPI)."""
    r = ctx.runner
    context = copy_context(ctx, "pyclient")
    wheels = context / "wheels"
    wheels.mkdir()
    step(f"pip download {PYCLIENT_REQUIREMENT} (cp311 manylinux wheels)")
    r.run([pip_python(), "-m", "pip", "--isolated", "--disable-pip-version-check", "download", *PIP_PLATFORM_ARGS,
           "-d", str(wheels), PYCLIENT_REQUIREMENT],
          env={"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    df = context / "Dockerfile"
    df.write_text(df.read_text().replace("@REQUIREMENT@", PYCLIENT_REQUIREMENT))
    os.chmod(context / "incluster.py", 0o755)
    docker_build(r, context, "kubelab/pyclient:latest", h)


IMAGE_LIST: list[Image] = [
    Image("kubelab/base:latest", None, base_inputs, base_build,
          "Debian minbase + python3 + /opt/venv"),
    Image("kubelab/busybox:latest", None, busybox_inputs, busybox_build,
          "Debian busybox-static rootfs"),
    Image("kubelab/pause:latest", "kubelab/busybox:latest", dockerfile_inputs("pause"),
          simple_build("pause", "kubelab/pause:latest"), "pod infra container"),
    Image("kubelab/etcd:latest", "kubelab/base:latest", dockerfile_inputs("etcd", etcd_inputs),
          etcd_build, "etcd + etcdctl"),
    Image("kubelab/web:latest", "kubelab/base:latest",
          dockerfile_inputs("web", lambda c: {"nginx": apt_version(c.runner, "nginx")}),
          simple_build("web", "kubelab/web:latest"), "Debian's nginx on :80"),
    Image("kubelab/debian:latest", "kubelab/base:latest", dockerfile_inputs("debian"),
          simple_build("debian", "kubelab/debian:latest"), "Debian with bash and apt"),
    Image("kubelab/hello:v1", "kubelab/busybox:latest",
          dockerfile_inputs("hello", lambda c: {"version": "1"}), hello_build("1"), "hello on :8080, v=1"),
    Image("kubelab/hello:v2", "kubelab/busybox:latest",
          dockerfile_inputs("hello", lambda c: {"version": "2"}), hello_build("2"), "hello on :8080, v=2"),
    *(Image(f"kubelab/bootcamp:v{v}", f"kubelab/hello:v{v}", dockerfile_inputs("bootcamp", lambda c, v=v: {"version": v}),
            versioned_build("bootcamp", v, ("Dockerfile", "server.js")), f"kubernetes-bootcamp stand-in, v={v}")
      for v in ("1", "2")),
    Image("kubelab/fluentd:latest", "kubelab/busybox:latest", dockerfile_inputs("fluentd"),
          simple_build("fluentd", "kubelab/fluentd:latest"), "fluentd stand-in: follows /var/log/nginx"),
    Image("kubelab/registry:latest", "kubelab/base:latest",
          dockerfile_inputs("registry", lambda c: {"docker-registry": apt_version(c.runner, "docker-registry")}),
          simple_build("registry", "kubelab/registry:latest"), "Debian's docker-registry (Distribution 2.x) on :5000"),
    Image("kubelab/kubelab:latest", "kubelab/base:latest", dockerfile_inputs("kubelab", kubelab_inputs),
          kubelab_build, "the project in /opt/venv"),
    Image("kubelab/pyclient:latest", "kubelab/base:latest", dockerfile_inputs("pyclient", pyclient_inputs),
          pyclient_build, "lab test image: python3 + the official `kubernetes` client"),
]


def _in_catalogue_order(recipes: list[Image], catalogue: tuple[str, ...]) -> list[Image]:
    """The recipes in the catalogue's order; a catalogue image without a recipe (or the reverse) is a bug here."""
    by_ref = {i.ref: i for i in recipes}
    if set(by_ref) != set(catalogue):
        raise SystemExit(f"images/build.py and kubelab/catalogue.py disagree: no recipe for "
                         f"{sorted(set(catalogue) - set(by_ref))}, not in the catalogue {sorted(set(by_ref) - set(catalogue))}")
    return [by_ref[ref] for ref in catalogue]


_standins = _sibling("standins")       # holds kubelab/catalogue.py, loaded by path
IMAGE_LIST = _in_catalogue_order(IMAGE_LIST, tuple(_standins.CAT.CATALOGUE))
IMAGES: list[str] = [i.ref for i in IMAGE_LIST]
_BY_REF = {i.ref: i for i in IMAGE_LIST}


def resolve(names: Sequence[str]) -> list[Image]:
    """Accepts 'busybox', 'hello' (both tags), 'hello:v1', 'kubelab/web', 'kubelab/web:latest'."""
    chosen: set[str] = set()
    for raw in names:
        n = raw.strip()
        if n.startswith("kubelab/") and n.count("/") == 1:
            n = n[len("kubelab/"):]
        matches = [i.ref for i in IMAGE_LIST
                   if n in (i.short, i.ref, i.ref.split("/", 1)[1], i.ref.split("/", 1)[1].split(":")[0])]
        if not matches:
            raise BuildError(f"unknown image {raw!r}; known: {', '.join(i.short for i in IMAGE_LIST)}")
        chosen.update(matches)
    return [i for i in IMAGE_LIST if i.ref in chosen]


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    with open(LOCK_FILE, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another image build holds {LOCK_FILE}: waiting for it")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_all(only: list[str] | None = None, force: bool = False,
              project_root: str | os.PathLike | None = None) -> None:
    """Build (or find cached) the images named in `only` (all when None/empty)
    and, first, whatever images they are built FROM. `force` rebuilds the
    named images (not their parents) even when their build hash matches.
    Raises BuildError when any image failed."""
    global _APT_VERSIONS
    _APT_VERSIONS = None  # looked up afresh on each call
    if not docker_available():
        raise BuildError("docker CLI/engine not available")
    wanted = resolve([n for n in only if n != "stand-ins"]) if only else list(IMAGE_LIST)
    forced = {i.ref for i in wanted} if force else set()
    plan_refs = {i.ref for i in wanted}
    for i in list(wanted):
        p = i.parent
        while p:
            plan_refs.add(p)
            p = _BY_REF[p].parent
    plan = [i for i in IMAGE_LIST if i.ref in plan_refs]
    root = Path(project_root).resolve() if project_root else REPO_ROOT

    failed: dict[str, str] = {}
    replaced: list[str] = []
    t_all = time.monotonic()
    n = len(plan)
    with build_lock(), tempfile.TemporaryDirectory(prefix="kubelab-images-") as tmpd:
        os.chmod(tmpd, 0o755)  # apt-get download's sandbox user must reach the .deb dir
        for k, img in enumerate(plan, 1):
            head = f"[{k}/{n}] {img.ref}"
            if img.parent and img.parent in failed:
                failed[img.ref] = f"parent {img.parent} failed"
                log(f"{head} ... skipped (parent {img.parent} failed)")
                continue
            tmp = Path(tmpd) / img.ref.replace("/", "_").replace(":", "_")
            tmp.mkdir(mode=0o755)
            safe = img.ref.split("/", 1)[1].replace(":", "-")
            ctx = Ctx(Runner(LOG_DIR / f"{safe}.log"), tmp, root)
            t0 = time.monotonic()
            try:
                parts = {"recipe": RECIPE_VERSION, "ref": img.ref, "inputs": img.inputs(ctx)}
                if img.parent:
                    parts["parent"] = image_id(img.parent)
                h = digest(parts)
                old = image_inspect(img.ref)
                if img.ref not in forced and image_label(old, HASH_LABEL) == h:
                    log(f"{head} ... cached ({human(old.get('Size', 0))})")
                    continue
                why = "forced" if img.ref in forced else ("inputs changed" if old else "new")
                log(f"{head} ... building ({img.what}; {why})")
                img.build(ctx, h)
                new = image_inspect(img.ref)
                if image_label(new, HASH_LABEL) != h:
                    raise BuildError(f"{img.ref} was not labelled with the new build hash")
                if old and old["Id"] != new["Id"]:
                    replaced.append(old["Id"])
                log(f"{head} ... built in {time.monotonic() - t0:.1f}s ({human(new.get('Size', 0))})")
            except (BuildError, OSError, subprocess.SubprocessError, ValueError) as e:
                failed[img.ref] = str(e) or type(e).__name__
                log(f"{head} ... FAILED after {time.monotonic() - t0:.1f}s\n{_indent(str(e))}")
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        # Old images that were replaced: remove them if nothing uses them any
        # more; then dangling leftovers of ours (replaced images whose children
        # were rebuilt since, the install stage of kubelab/kubelab).
        for old_id in reversed(replaced):
            quiet(["docker", "image", "rm", old_id])
        for label in (HASH_LABEL, STAGE_LABEL):
            quiet(["docker", "image", "prune", "-f", "--filter", f"label={label}"])
    status = f"{len(plan) - len(failed)}/{n} images ok in {time.monotonic() - t_all:.1f}s"
    if failed:
        log(f"{status}; FAILED: {', '.join(failed)}")
        raise BuildError("failed: " + "; ".join(f"{k}: {v.splitlines()[0]}" for k, v in failed.items()))
    log(status)
    if not only or "stand-ins" in only:
        try:
            _standins.build(log)
        except _standins.StandInError as e:
            raise BuildError(str(e)) from e


def _indent(s: str) -> str:
    return "\n".join("      " + line for line in s.splitlines())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Build kubelab's local Docker images from Debian's packages and PyPI "
                    "(cached by a kubelab.build-hash label).")
    ap.add_argument("--only", nargs="+", action="extend", metavar="NAME",
                    help="build only these (and the images they are built FROM), "
                         "e.g. busybox, hello, hello:v2, kubelab/web")
    ap.add_argument("--force", action="store_true", help="rebuild even when the build hash matches")
    ap.add_argument("--list", action="store_true", help="print the image names and exit")
    ap.add_argument("--project-dir", help=argparse.SUPPRESS)  # for testing kubelab/kubelab
    args = ap.parse_args(argv)
    if args.list:
        for i in IMAGE_LIST:
            log(f"{i.ref:26} {i.what}")
        return 0
    try:
        build_all(args.only, args.force, args.project_dir)
    except BuildError as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
