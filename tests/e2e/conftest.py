"""End-to-end tier: the compose lab, real containers, the real CLI.

`lab` (session scope) builds missing images, brings the lab up once through
`lab.compose.up` (what `kubelab cluster up` runs) with its own kubeconfig in
a temporary directory, and removes it at the end (`lab.compose.down`). The
lab's container names are fixed (kubelab-node1, ...), so a lab already
running on this engine is taken over and removed afterwards.

`ha_lab` (module scope, tests/e2e/test_ha.py) is the highly available lab
(`lab.compose.up(ha=True)`, 2 nodes) on the same fixed host ports: it removes
whatever lab is running first, and at its end removes itself and, if the
session's `lab` was up, brings that back up (same kubeconfig files; `lab`'s
dict is updated in place). Its tests are sorted before the `lab` tests, so
normally nothing needs bringing back.

Tests drive the CLI as a user would (`kubelab ...` as a subprocess) and look
at Docker directly where that is the point (docker kill, docker stop of a
node). Skips only when docker is not available.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Generator, Iterator

import pytest

from tests.harness.wait import wait_until as wait_for
from tests.harness.kubeconfig import kubeconfig_in

NAMESPACE = "e2e"


def docker_ok() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def compose_ok() -> bool:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return True
    return shutil.which("docker-compose") is not None


def _order(item: pytest.Item) -> int:
    """Tests without a lab first, then the HA lab's (it removes any lab), then the lab's, then test_zz_down."""
    if "test_zz_down" in item.nodeid:
        return 3
    fixtures = getattr(item, "fixturenames", ())
    return 2 if "lab" in fixtures else 1 if "ha_lab" in fixtures else 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Lab tests run after the rest, and test_zz_down's cluster down last of all."""
    items.sort(key=_order)


# The lab's containers as Docker saw them when the first test failed: a fault in one node (a container
# that did not start again, a kubelet that never registered) fails every later test, and the report of
# the first failure is where CI's log is usually cut. Printed again at the very end of the run.
_FIRST_FAILURE: list[str] = []


def lab_containers_now(log_lines: int = 12) -> str:
    """`docker ps -a` of the lab's containers with each one's state and address, `get nodes -o wide`,
    and the last log lines of any node or proxy container that is not running or that Docker restarted (one a
    test stopped and started again is in the table, not its log: the log's end is what CI's report keeps)."""
    fmt = ("{{.Name}} {{.State.Status}} exit={{.State.ExitCode}} restarts={{.RestartCount}} "
           "started={{.State.StartedAt}} finished={{.State.FinishedAt}} error={{json .State.Error}} "
           "ip={{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}")
    ids = docker("ps", "-aq", "--filter", "label=io.kubelab.lab", check=False, timeout=30).stdout.split()
    if not ids:
        return "no container of the lab exists"
    rows = docker("inspect", "--format", fmt, *ids, check=False, timeout=30).stdout.splitlines()
    out = sorted(r.lstrip("/") for r in rows)
    nodes = kubectl("get", "nodes", "-o", "wide", check=False, timeout=30, namespace=None)
    out += ["--- kubelab get nodes -o wide", *(nodes.stdout + nodes.stderr).splitlines()]
    for row in [r for r in out if r.startswith("kubelab-")]:
        name, status = row.split()[:2]
        if ("-node" in name or "-proxy" in name) and (status != "running" or "restarts=0" not in row):
            logs = docker("logs", "--tail", str(log_lines), name, check=False, timeout=30)
            out.append(f"--- docker logs --tail {log_lines} {name}")
            out.extend((logs.stdout + logs.stderr).splitlines()[-log_lines:])
    return "\n".join(out)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                               ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and not _FIRST_FAILURE and docker_ok():
        try:
            state = lab_containers_now()
        except (OSError, subprocess.SubprocessError) as e:
            state = f"could not ask Docker: {e}"
        _FIRST_FAILURE.append(f"{item.nodeid} ({report.when})\n{state}")
        report.sections.append(("the lab's containers at this failure", state))
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any) -> Generator[None, None, None]:
    """After the short summary: the last lines of the log are what a CI report keeps."""
    yield
    if _FIRST_FAILURE:
        terminalreporter.section("the lab's containers when the first test failed")
        terminalreporter.write_line(_FIRST_FAILURE[0])
        # Once more, last: which tests failed and how (the short summary above is where a cut log drops it).
        terminalreporter.section("failed")
        for rep in terminalreporter.stats.get("failed", []) + terminalreporter.stats.get("error", []):
            crash = getattr(rep.longrepr, "reprcrash", None)
            terminalreporter.write_line(f"{rep.nodeid} ({rep.when}): "
                                        f"{(crash.message if crash else str(rep.longrepr)).splitlines()[0][:300]}")


def _need_compose() -> None:
    """The e2e tier is the lab: without Docker or compose it fails (a skip would pass CI with no lab tested)."""
    if not docker_ok():
        pytest.fail("the e2e tier needs a Docker engine: `docker version` reached no server", pytrace=False)
    if not compose_ok():
        pytest.fail("the e2e tier needs `docker compose` or docker-compose: neither is installed", pytrace=False)


def _lab_up(tmp: Path, ha: bool = False) -> dict[str, Any]:
    """`lab.compose.up` with the kubeconfig files in `tmp` (the environment must point there), and the e2e
    namespace."""
    from lab import compose as kubelab_lab
    # KUBELAB_E2E_BUILD=0 skips images/build.py (images already built, e.g. from a patched tree)
    info = kubelab_lab.up(quiet=False, timeout=240, build=os.environ.get("KUBELAB_E2E_BUILD", "1") != "0", ha=ha)
    info["kubeconfig"] = str(tmp / "kubeconfig")
    info["kube_config"] = tmp / "kube-config"
    kubectl("apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n",
            namespace=None)
    return info


# The session's `lab` while it is up (its info dict and kubeconfig directory): what `ha_lab` brings back.
_SESSION_LAB: list[tuple[dict[str, Any], Path]] = []


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    _need_compose()
    from lab import compose as kubelab_lab
    tmp = tmp_path_factory.mktemp("lab")
    with kubeconfig_in(tmp):
        try:
            info = _lab_up(tmp)
            _SESSION_LAB.append((info, tmp))
            yield info
        finally:
            _SESSION_LAB.clear()
            kubelab_lab.down(quiet=True)


@pytest.fixture(scope="module")
def ha_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The highly available lab (compose.ha.yaml: 3 etcd members, 2 apiservers, schedulers and controller
    managers; 2 nodes). The host ports are the lab's, so whatever lab runs is removed first; a session `lab`
    that was up is brought back up afterwards."""
    _need_compose()
    from lab import compose as kubelab_lab
    tmp = tmp_path_factory.mktemp("ha-lab")
    try:
        with kubeconfig_in(tmp):          # down edits the kubeconfig files: these, never the user's
            kubelab_lab.down(quiet=True)
            try:
                yield _lab_up(tmp, ha=True)
            finally:
                kubelab_lab.down(quiet=True)
    finally:
        for info, lab_tmp in _SESSION_LAB:
            # The session's lab again, in its own kubeconfig files (the environment `lab` set is in force again).
            info.update(_lab_up(lab_tmp))


# ---------------------------------------------------------------- helpers
def kubectl(*args: str, check: bool = True, timeout: float = 60, input: str | None = None,
            namespace: str | None = NAMESPACE) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "kubectl"] + (["-n", namespace] if namespace else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"kubelab {' '.join(args)} -> exit {p.returncode}\nstdout: {p.stdout}\n"
                             f"stderr: {p.stderr}")
    return p


def kubectl_argv(*args: str, namespace: str | None = NAMESPACE) -> list[str]:
    return [sys.executable, "-m", "kubectl"] + (["-n", namespace] if namespace else []) + list(args)


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} -> exit {p.returncode}\n{p.stderr}")
    return p


def apply(manifest: str) -> None:
    kubectl("apply", "-f", "-", input=manifest)


def get_json(kind: str, name: str) -> dict[str, Any]:
    return json.loads(kubectl("get", kind, name, "-o", "json").stdout)


def pod_row(name: str) -> dict[str, str]:
    """The `kubelab get pod NAME` row: NAME, READY, STATUS, RESTARTS (the count only)."""
    lines = kubectl("get", "pod", name).stdout.splitlines()
    parts = lines[1].split()
    return {"NAME": parts[0], "READY": parts[1], "STATUS": parts[2], "RESTARTS": parts[3]}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:5]}"


def wait_running_ready(name: str, timeout: float = 60) -> dict[str, str]:
    def ok() -> dict[str, str] | None:
        row = pod_row(name)
        ready, total = row["READY"].split("/")
        return row if row["STATUS"] == "Running" and ready == total else None
    return wait_for(ok, timeout, f"pod {name} Running and Ready")


def pod_containers(pod: str, container: str | None = None, running: bool = True) -> list[str]:
    """Docker ids of a pod's containers (app containers only when `container` is given)."""
    args = ["ps", "-q", "--filter", f"label=io.kubelab.pod={pod}", "--filter", f"label=io.kubelab.namespace={NAMESPACE}"]
    if not running:
        args.insert(1, "-a")
    if container:
        args += ["--filter", f"label=io.kubelab.container={container}"]
    return docker(*args).stdout.split()


def describe(name: str) -> str:
    return kubectl("describe", "pod", name, check=False).stdout


REPO = Path(__file__).resolve().parents[2]
