"""kubectl's plugin mechanism in `kubelab`: which program an unknown command runs, with which arguments; a
real one run with its arguments, environment and exit status; built-ins winning; `kubelab plugin list`."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl import plugins
from kubectl.plugins import Plugin, find


def on_disk(*paths: str):  # type: ignore[no-untyped-def]
    return lambda p: p in paths


def test_the_longest_name_wins_and_gets_the_rest() -> None:
    exe = on_disk("/a/kubectl-foo", "/b/kubectl-foo-bar")
    assert find(["foo", "bar", "baz", "-x", "y"], ["/a", "/b"], exe) == Plugin("/b/kubectl-foo-bar", ["baz", "-x", "y"])
    assert find(["foo", "baz"], ["/a", "/b"], exe) == Plugin("/a/kubectl-foo", ["baz"])
    # the name ends at the first flag: words after it are arguments, never part of the name
    assert find(["foo", "--flag", "bar"], ["/a", "/b"], exe) == Plugin("/a/kubectl-foo", ["--flag", "bar"])
    assert find(["nothing", "here"], ["/a", "/b"], exe) is None


def test_a_dash_in_a_word_is_an_underscore_in_the_file_name() -> None:
    exe = on_disk("/a/kubectl-my_tool", "/a/kubectl-my-tool")
    assert find(["my-tool", "x"], ["/a"], exe) == Plugin("/a/kubectl-my_tool", ["x"])
    assert find(["my", "tool"], ["/a"], exe) == Plugin("/a/kubectl-my-tool", [])


def test_directories_in_order_and_kubectl_names_only() -> None:
    exe = on_disk("/a/kubelab-ns", "/b/kubectl-ns", "/c/kubectl-ns", "/a/kubelab-proxy")
    assert find(["ns", "dev"], ["/a", "/b", "/c"], exe) == Plugin("/b/kubectl-ns", ["dev"])
    assert find(["ns"], ["/a", "/c"], exe) == Plugin("/c/kubectl-ns", [])
    assert find(["ns"], ["/a"], exe) is None            # kubelab-NAME: a component's program, never a command


def test_the_install_directory_is_searched_before_path(monkeypatch: pytest.MonkeyPatch) -> None:
    import sysconfig
    monkeypatch.setattr(sys, "argv", ["/opt/venv/bin/kubelab", "dashboard"])
    dirs = plugins.search_dirs({"PATH": "/usr/bin:/opt/venv/bin::/bin"})
    assert dirs == plugins.unique(["/opt/venv/bin", sysconfig.get_path("scripts"), "/usr/bin", "/bin"])
    monkeypatch.setattr(sys, "argv", ["/src/kubectl/__main__.py"])      # python -m kubectl: no script dir
    assert plugins.search_dirs({"PATH": "/usr/bin"}) == [sysconfig.get_path("scripts"), "/usr/bin"]


def test_plugin_list_warnings() -> None:
    files = {"/a": ["kubectl-hello", "kubectl-proxy", "kubelab-proxy", "other"],
             "/b": ["kubectl-hello", "kubectl-ns"]}
    exe = on_disk("/a/kubectl-hello", "/a/kubectl-proxy", "/a/kubelab-proxy", "/b/kubectl-hello")
    listed = dict(plugins.warnings_for(["/a", "/b"], lambda d: files[d], {"proxy", "get"}, exe))
    assert listed == {
        "/a/kubectl-hello": [],
        "/a/kubectl-proxy": ['warning: kubectl-proxy overwrites existing command: "kubelab proxy"'],
        "/b/kubectl-hello": ["warning: /b/kubectl-hello is overshadowed by a similarly named plugin: "
                             "/a/kubectl-hello"],
        "/b/kubectl-ns": ["warning: /b/kubectl-ns identified as a kubelab plugin, but it is not executable"]}


# ---------------------------------------------------------------- a real plugin, run by a real kubelab
@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    hello = d / "kubectl-hello"
    hello.write_text("#!/bin/sh\necho \"hello $# [$*] $HELLO_ENV\"\nexit 7\n")
    hello.chmod(0o755)
    get = d / "kubectl-get"          # a built-in's name: never run
    get.write_text("#!/bin/sh\necho plugin get\n")
    get.chmod(0o755)
    return d


def kubelab(args: list[str], bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               "KUBECONFIG": str(bin_dir / "no-config"), **env}
    return subprocess.run([sys.executable, "-m", "kubectl", *args], env=environ, capture_output=True, text=True,
                          timeout=60)


def test_a_plugin_on_path_runs_with_its_args_env_and_exit_status(bin_dir: Path) -> None:
    r = kubelab(["hello", "a b", "--flag", "-x"], bin_dir, HELLO_ENV="passed")
    assert (r.returncode, r.stdout, r.stderr) == (7, "hello 3 [a b --flag -x] passed\n", "")


def test_builtins_win_and_unknown_commands_say_so(bin_dir: Path) -> None:
    r = kubelab(["get", "--help"], bin_dir)
    assert r.returncode == 0 and "plugin get" not in r.stdout and "Display one or many resources" in r.stdout
    r = kubelab(["frobnicate"], bin_dir)
    assert r.returncode == 1 and 'error: unknown command "frobnicate" for "kubelab"' in r.stderr
    r = kubelab(["-n", "x", "hello"], bin_dir)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "error: flags cannot be placed before plugin name: -n\n")


def test_plugin_list_shows_them(bin_dir: Path) -> None:
    r = kubelab(["plugin", "list", "--name-only"], bin_dir)
    assert "kubectl-hello\n" in r.stdout and r.stdout.startswith("The following compatible plugins are available:")
    assert "kubectl-dashboard\n" in r.stdout        # this install's own, from its bin directory
    assert "kubelab-proxy" not in r.stdout           # the components' programs are not plugins
    assert '  - warning: kubectl-get overwrites existing command: "kubelab get"\n' in r.stderr
    assert r.returncode == 1                          # kubectl's: a warning makes the listing fail
