"""The local images made by images/build.py, run for real with the docker CLI.

The first test session on a machine builds the images (one to two minutes);
later ones find them cached (about a second). Every container and network is
named kubelab-imgtest-* and removed afterwards. Skips only when docker is not
available.
"""
from __future__ import annotations

import importlib.util
import io
import re
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from .conftest import docker_ok

REPO = Path(__file__).resolve().parents[2]
BUILD_PY = REPO / "images" / "build.py"

pytestmark = [pytest.mark.e2e]
if importlib.util.find_spec("pytest_timeout"):
    pytestmark.append(pytest.mark.timeout(1200))


def _load_build():
    spec = importlib.util.spec_from_file_location("kubelab_images_build", BUILD_PY)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


build = _load_build()


def sh(*cmd: str, check: bool = True, timeout: float = 120, input: str | None = None
       ) -> subprocess.CompletedProcess:
    p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def name(what: str) -> str:
    return f"kubelab-imgtest-{what}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def images_built() -> str:
    if not docker_ok():      # the images are the lab's: without an engine this tier fails, as conftest's does
        pytest.fail("the e2e tier needs a Docker engine: `docker version` reached no server", pytrace=False)
    p = subprocess.run([sys.executable, str(BUILD_PY)], capture_output=True, text=True, timeout=1500)
    assert p.returncode == 0, f"images/build.py failed:\n{p.stdout}\n{p.stderr}"
    return p.stdout


@pytest.fixture
def cleanup():
    """Collects containers/networks to remove after the test."""
    containers: list[str] = []
    networks: list[str] = []
    yield containers, networks
    for c in containers:
        sh("docker", "rm", "-f", c, check=False)
    for n in networks:
        sh("docker", "network", "rm", n, check=False)


@pytest.fixture
def net(cleanup):
    """A user-defined network with a long-lived busybox client on it."""
    containers, networks = cleanup
    n = name("net")
    sh("docker", "network", "create", n)
    networks.append(n)
    client = name("client")
    containers.append(client)
    sh("docker", "run", "-d", "--name", client, "--network", n, "kubelab/busybox:latest",
       "sleep", "600")

    def run(*args: str, alias: str | None = None, hostname: str | None = None, **kw) -> str:
        c = name(kw.pop("what", "srv"))
        containers.insert(0, c)
        cmd = ["docker", "run", "-d", "--name", c, "--network", n]
        if alias:
            cmd += ["--network-alias", alias]
        if hostname:
            cmd += ["--hostname", hostname]
        sh(*cmd, *args)
        return c

    def client_sh(script: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return sh("docker", "exec", client, "sh", "-c", script, check=False, timeout=timeout)

    def wait_http(url: str) -> None:
        p = client_sh(f"for i in $(seq 1 100); do wget -q -O /dev/null {url} && exit 0; "
                      f"sleep 0.1; done; exit 1")
        assert p.returncode == 0, f"{url} never answered: {p.stdout}{p.stderr}"

    return run, client_sh, wait_http


# --------------------------------------------------------------------------
# without docker


def test_busybox_tarball_is_reproducible(tmp_path):
    fake = tmp_path / "busybox"
    fake.write_bytes(b"\x7fELF not really busybox")
    fake.chmod(0o755)
    outs = []
    for i in range(2):
        out = tmp_path / f"rootfs{i}.tar"
        build.make_busybox_tar(fake, ["sh", "ls", "wget", "busybox"], build.IMAGES_DIR / "busybox",
                               None, out)
        outs.append(out.read_bytes())
        time.sleep(1.1)  # a wall-clock mtime would differ
    assert outs[0] == outs[1]
    with tarfile.open(fileobj=io.BytesIO(outs[0])) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    assert members["tmp"].mode == 0o1777
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["usr/bin"].linkname == "../bin"
    assert "bin/busybox" in members and "etc/passwd" in members and "etc/nsswitch.conf" in members


def test_apt_sources_are_read_from_the_machine(tmp_path):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "os.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.invalid/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n"
        "Components: main\n")
    (d / "thirdparty.sources").write_text(
        "Types: deb\nURIs: http://thirdparty.invalid/x\nSuites: nodistro\nComponents: main\n")
    (d / "off.sources.disabled").write_text("Types: deb\nURIs: http://x.invalid\nSuites: sid\n")
    src = build.read_apt_sources(tmp_path)
    assert src.fmt == "deb822" and src.suite == "bookworm"
    assert "mirror.invalid/debian-security" in src.text
    assert "thirdparty" not in src.text and "nodistro" not in src.text
    assert "URIs: " in src.text and "Signed-By: " in src.text

    one = tmp_path / "one"
    one.mkdir()
    (one / "sources.list").write_text(
        "# comment\ndeb [signed-by=/k.gpg] http://mirror.invalid/debian trixie main\n"
        "deb http://mirror.invalid/debian-security trixie-security main\n"
        "deb http://thirdparty.invalid/x stable main\n")
    src = build.read_apt_sources(one)
    assert src.fmt == "one-line" and src.suite == "trixie"
    assert src.text.count("\n") == 2 and "thirdparty" not in src.text


def test_no_host_names_in_image_recipes():
    """Mirrors and registries come from the machine at run time, never from our files (the lab's own registries
    on the loopback are not a host name of anyone's)."""
    offenders = []
    for p in (REPO / "images").rglob("*"):
        if p.is_file() and ".cache" not in p.parts and "__pycache__" not in p.parts:
            text = p.read_text(errors="replace")
            if re.search(r"[a-z]+://(?!127\.0\.0\.1[:/]|localhost[:/])[a-z0-9]", text, re.I):
                offenders.append(str(p.relative_to(REPO)))
    assert offenders == []


def test_only_names_resolve():
    assert [i.ref for i in build.resolve(["hello"])] == ["kubelab/hello:v1", "kubelab/hello:v2"]
    assert [i.ref for i in build.resolve(["kubelab/web"])] == ["kubelab/web:latest"]
    assert [i.ref for i in build.resolve(["hello:v2", "etcd"])] == ["kubelab/etcd:latest",
                                                                     "kubelab/hello:v2"]
    with pytest.raises(build.BuildError):
        build.resolve(["nginx"])


# --------------------------------------------------------------------------
# with docker


def test_all_images_exist_with_build_hash(images_built):
    for ref in build.IMAGES:
        info = build.image_inspect(ref)
        assert info is not None, ref
        assert build.image_label(info, build.HASH_LABEL), ref


def test_second_build_is_cached_and_fast(images_built):
    t = time.monotonic()
    p = sh(sys.executable, str(BUILD_PY), timeout=600)
    elapsed = time.monotonic() - t
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("[")]
    # kubelab/kubelab may rebuild if the project's sources changed meanwhile
    # (a test run edits nothing, but a developer might): everything else is cached.
    others = [ln for ln in lines if "kubelab/kubelab:" not in ln]
    assert others and all(ln.endswith(")") and "cached" in ln for ln in others), p.stdout
    if all("cached" in ln for ln in lines):
        assert elapsed < 30, f"cached build took {elapsed:.1f}s"


def test_only_builds_parents_and_reports_progress(images_built):
    p = sh(sys.executable, str(BUILD_PY), "--only", "hello:v2", timeout=600)
    assert re.search(r"^\[1/2\] kubelab/busybox:latest \.\.\. cached", p.stdout, re.M), p.stdout
    assert re.search(r"^\[2/2\] kubelab/hello:v2 \.\.\. cached", p.stdout, re.M), p.stdout


def test_busybox_applets_and_rootfs(images_built):
    p = sh("docker", "run", "--rm", "kubelab/busybox:latest", "sh", "-c",
           "for a in sh sleep wget nc env hostname ls rm cat echo httpd nslookup timeout ip; do "
           "  command -v $a >/dev/null || echo MISSING $a; done; "
           "stat -c '%a %U' /tmp; readlink /usr/bin; /usr/bin/env true && echo envok; "
           "grep -c '^root:x:0:0:' /etc/passwd; grep '^hosts:' /etc/nsswitch.conf; "
           "/bin/bash -c 'echo bash runs $0'; id -un")
    out = p.stdout
    assert "MISSING" not in out, out
    assert "1777 root" in out and "../bin" in out and "envok" in out, out
    assert "bash runs /bin/sh" in out, out       # tutorials' `exec -it POD -- /bin/bash`
    assert "hosts:    files dns" in out and out.strip().endswith("root"), out
    info = build.image_inspect("kubelab/busybox:latest")
    assert info["Config"]["Cmd"] == ["sh"]
    assert info["Size"] < 5_000_000


def test_base_python_and_venv(images_built):
    p = sh("docker", "run", "--rm", "kubelab/base:latest", "sh", "-c",
           "python3 --version; command -v python3; command -v pip; echo $LANG; "
           "python3 -c 'import ssl, venv; print(ssl.OPENSSL_VERSION)'; ls /usr/share/man 2>&1 | wc -l")
    out = p.stdout
    assert "Python 3.11" in out, out
    assert "/opt/venv/bin/python3" in out and "/opt/venv/bin/pip" in out, out
    assert "C.UTF-8" in out and "OpenSSL" in out, out


def test_etcd_runs_and_answers_etcdctl(images_built, cleanup):
    p = sh("docker", "run", "--rm", "kubelab/etcd:latest", "--version")
    assert re.search(r"etcd Version: 3\.\d+\.\d+", p.stdout), p.stdout
    containers, _ = cleanup
    c = name("etcd")
    containers.append(c)
    sh("docker", "run", "-d", "--name", c, "kubelab/etcd:latest",
       "--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://127.0.0.1:2379")
    deadline = time.monotonic() + 30
    while True:
        p = sh("docker", "exec", c, "etcdctl", "put", "kubelab-imgtest", "ok", check=False)
        if p.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert p.returncode == 0, p.stdout + p.stderr
    p = sh("docker", "exec", c, "etcdctl", "get", "--print-value-only", "kubelab-imgtest")
    assert p.stdout.strip() == "ok"
    t = time.monotonic()
    sh("docker", "stop", c)
    assert time.monotonic() - t < 8


def test_pause_sleeps_and_stops_at_once(images_built, cleanup):
    containers, _ = cleanup
    c = name("pause")
    containers.append(c)
    sh("docker", "run", "-d", "--name", c, "kubelab/pause:latest")
    time.sleep(1)
    assert sh("docker", "inspect", "-f", "{{.State.Running}}", c).stdout.strip() == "true"
    t = time.monotonic()
    sh("docker", "stop", "-t", "10", c)
    assert time.monotonic() - t < 3, "pause ignored SIGTERM"
    assert sh("docker", "inspect", "-f", "{{.State.ExitCode}}", c).stdout.strip() == "0"
    assert build.image_inspect("kubelab/pause:latest")["Size"] < 5_000_000


@pytest.mark.parametrize("version", ["1", "2"])
def test_hello_answers_repeated_and_concurrent_requests(images_built, net, version):
    run, client_sh, wait_http = net
    srv = run(f"kubelab/hello:v{version}", alias="hello", hostname="hello-pod", what="hello")
    wait_http("http://hello:8080/")
    expected = f"Hello kubelab! | Running on: hello-pod | v={version}"
    p = client_sh("for i in 1 2 3 4 5; do wget -qO- http://hello:8080/ || echo FAIL; done; "
                  "wget -qO- http://hello:8080/any/path?x=1 || echo FAIL")
    assert p.stdout.splitlines() == [expected] * 6, p.stdout + p.stderr
    p = client_sh("for i in $(seq 1 30); do (wget -qO- http://hello:8080/c$i || echo FAIL) & done; wait")
    assert p.stdout.splitlines() == [expected] * 30, p.stdout + p.stderr
    # exact bytes, newline included
    p = client_sh("wget -qO- http://hello:8080/ | od -c | tail -2 | head -1")
    assert "\\n" in p.stdout
    # the container's log shows the requests
    logs = sh("docker", "logs", srv)
    assert "GET /c7 " in logs.stdout + logs.stderr
    t = time.monotonic()
    sh("docker", "stop", srv)
    assert time.monotonic() - t < 3


def test_web_serves_logs_and_404s_without_index(images_built, net):
    run, client_sh, wait_http = net
    srv = run("kubelab/web:latest", alias="web", what="web")
    wait_http("http://web/")
    p = client_sh("wget -qO- http://web/")
    assert "Welcome to nginx!" in p.stdout
    p = client_sh("wget -qO- http://web/50x.html")
    assert "error" in p.stdout.lower()
    p = client_sh("wget -qO- http://web/kubelab-imgtest-missing")
    assert "404" in p.stderr
    p = client_sh("wget -S -qO /dev/null http://web/")
    assert "Server: nginx/" in p.stderr, p.stderr         # Debian's nginx, as the nginx image
    sh("docker", "exec", srv, "test", "-d", "/var/log/nginx")
    sh("docker", "exec", srv, "rm", "/usr/share/nginx/html/index.html")
    p = client_sh("wget -q -O /dev/null http://web/index.html")
    assert p.returncode != 0 and "404" in p.stderr, p.stderr
    time.sleep(0.3)
    logs = sh("docker", "logs", srv)
    lines = [ln for ln in logs.stdout.splitlines() if '"' in ln]
    # nginx's combined format, on stdout (access) and stderr (errors)
    assert any('"GET /kubelab-imgtest-missing HTTP/1.1" 404' in ln for ln in lines), lines
    assert any('"GET /index.html HTTP/1.1" 404' in ln for ln in lines), lines
    assert any(re.search(r'^\d+\.\d+\.\d+\.\d+ - - \[.+\] "GET / HTTP/1.1" 200 \d+ ', ln) for ln in lines), lines
    assert "No such file or directory" in logs.stderr
    assert '"GET /50x.html HTTP/1.1" 200' in logs.stdout
    t = time.monotonic()
    sh("docker", "stop", srv)
    assert time.monotonic() - t < 3


def test_kubelab_image_has_project_and_dependencies(images_built):
    p = sh("docker", "run", "--rm", "kubelab/kubelab:latest", "sh", "-c",
           "python3 -c 'import kubelab, grpc, google.protobuf, aetcd, docker, yaml, click, rich; "
           "print(kubelab.__file__)'; pip check; echo PYU=$PYTHONUNBUFFERED; "
           "head -1 /opt/venv/bin/kubelab; ls /wheels 2>&1 | head -1")
    out = p.stdout
    assert "/opt/venv/lib/python3.11/site-packages/kubelab/__init__.py" in out, out
    assert "No broken requirements found." in out, out
    assert "PYU=1" in out and "#!/opt/venv/bin/python" in out, out
    assert "No such file" in out, "wheels were left in the image"
