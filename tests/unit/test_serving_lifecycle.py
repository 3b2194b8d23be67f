"""kubelab.serving's process life cycle, in a real child process: startup → serve → graceful stop on SIGTERM;
a second signal during a slow shutdown exits at once; the grace period bounds the shutdown; a Fatal end is
one log line."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SERVICE = textwrap.dedent("""
    import asyncio, logging, sys
    from kubelab import serving

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    STOP_SECONDS, GRACE, FAIL = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]

    class Slow:
        async def start(self):
            print("started", flush=True)

        async def run(self):
            if FAIL == "fatal":
                raise serving.Fatal("lost leadership of test-lock")
            if FAIL == "bug":
                raise ValueError("a bug")
            if FAIL in ("task", "task-fatal"):
                async def loop_that_dies():
                    await asyncio.sleep(0.2)
                    if FAIL == "task-fatal":
                        raise serving.Fatal("this network namespace has lost every interface but lo; exiting")
                    raise KeyError("status")
                async def loop_that_lives():
                    await asyncio.sleep(3600)
                await serving.until_a_task_ends([asyncio.create_task(loop_that_lives(), name="runtime-health"),
                                                 asyncio.create_task(loop_that_dies(), name="heartbeats")])
            await serving.forever()

        async def stop(self):
            print("stopping", flush=True)
            await asyncio.sleep(STOP_SECONDS)
            print("stopped", flush=True)

    serving.run(Slow, grace=GRACE)
    print("exited cleanly", flush=True)
""")


def start(stop_seconds: float, grace: float = 30.0, fail: str = "") -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", SERVICE, str(stop_seconds), str(grace), fail or "-"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not fail:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "started"
    return p


def wait_line(p: subprocess.Popen[str], want: str) -> None:
    assert p.stdout is not None
    assert p.stdout.readline().strip() == want


@pytest.mark.timeout(30)
def test_sigterm_stops_gracefully_and_exits_0() -> None:
    p = start(stop_seconds=0.5)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    assert out.split() == ["stopping", "stopped", "exited", "cleanly"]
    assert "shutting down" in err and "Traceback" not in err


@pytest.mark.timeout(30)
@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_during_a_slow_shutdown_exits_at_once(second: int) -> None:
    p = start(stop_seconds=60)
    p.send_signal(signal.SIGTERM)
    wait_line(p, "stopping")
    t0 = time.monotonic()
    p.send_signal(second)
    out, err = p.communicate(timeout=10)
    assert time.monotonic() - t0 < 3
    assert p.returncode == 1
    assert "stopped" not in out
    assert f"second {signal.Signals(second).name}: exiting now" in err and "Traceback" not in err


@pytest.mark.timeout(30)
def test_the_grace_period_bounds_the_shutdown() -> None:
    p = start(stop_seconds=60, grace=1.0)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=15)
    assert time.monotonic() - t0 < 5
    assert p.returncode == 0 and "stopped" not in out
    assert "shutdown did not finish within the grace period" in err


@pytest.mark.timeout(30)
def test_a_fatal_end_is_one_log_line_after_a_graceful_stop() -> None:
    p = start(stop_seconds=0, fail="fatal")
    out, err = p.communicate(timeout=10)
    assert p.returncode == 1
    assert out.split() == ["started", "stopping", "stopped"]
    assert err.strip().splitlines() == ["ERROR kubelab.serving: lost leadership of test-lock"]


@pytest.mark.timeout(30)
def test_a_bug_still_shows_its_traceback() -> None:
    p = start(stop_seconds=0, fail="bug")
    out, err = p.communicate(timeout=10)
    assert p.returncode == 1 and "stopped" in out
    assert "Traceback" in err and "ValueError: a bug" in err


@pytest.mark.timeout(30)
def test_a_loop_that_ends_by_itself_ends_the_process() -> None:
    """A kubelet whose heartbeats died would look alive (its port answers) and be NotReady for good: the task's
    end ends the process with status 1, naming the task, so its supervisor starts it again."""
    p = start(stop_seconds=0, fail="task")
    out, err = p.communicate(timeout=10)
    assert p.returncode == 1
    assert out.split() == ["started", "stopping", "stopped"]
    assert "KeyError: 'status'" in err            # the traceback of what killed it, once
    assert err.strip().splitlines()[-1] == ("ERROR kubelab.serving: heartbeats ended (KeyError): 'status'; "
                                            "exiting so that it is started again")


@pytest.mark.timeout(30)
def test_a_loop_that_ends_on_purpose_is_one_log_line() -> None:
    """A task that raises Fatal (the proxy's lost network namespace) ends the process in its own words."""
    p = start(stop_seconds=0, fail="task-fatal")
    out, err = p.communicate(timeout=10)
    assert p.returncode == 1 and out.split() == ["started", "stopping", "stopped"]
    assert err.strip().splitlines() == [
        "ERROR kubelab.serving: this network namespace has lost every interface but lo; exiting"]


@pytest.mark.timeout(60)
def test_a_kubelet_without_a_docker_engine_says_so_in_one_line(tmp_path: Path) -> None:
    """The real kubelet process, given an engine address where none listens: one line, status 1."""
    (tmp_path / "kubelet-token").write_text("t")
    p = subprocess.run([sys.executable, "-m", "kubelet.main", "--server", "127.0.0.1:1", "--token", "t",
                        "--kubelet-token-file", str(tmp_path / "kubelet-token"), "--node-name", "n1",
                        "--docker-host", f"unix://{tmp_path}/no-engine.sock"],
                       cwd=ROOT, capture_output=True, text=True, timeout=50)
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and f"kubelet: cannot reach the Docker engine (unix://{tmp_path}/no-engine.sock)" \
        in lines[0], p.stderr
