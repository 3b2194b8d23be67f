"""kubectl's plugin mechanism for `kubelab`: `kubelab foo bar ARGS` runs the program `kubectl-foo-bar ARGS`.

Where it sits: the `kubelab` program (kubectl/main.py's `main`, not the click group, which tests call in-process)
calls `dispatch` before click parses anything, and `kubelab plugin list` is `plugin_cmd` here. As kubectl's HandlePluginCommand (pkg/cmd/cmd.go) does:

  - built-in commands always win; only an unknown first word is looked up, and never `help`;
  - the leading words up to the first flag name the program, longest match first: `kubelab foo bar -x`
    tries `foo-bar`, then `foo`; a dash inside a word is an underscore in the file name (`kubelab my-tool`
    runs `kubectl-my_tool`), so the dashes between words stay unambiguous;
  - the program gets the remaining words and flags and this process's environment, and replaces this
    process (exec): its exit status is the command's;
  - a flag before the name (`kubelab -n x foo`) is an error, since the program could not see it.

The names are kubectl's own (`kubectl-NAME`), not `kubelab-NAME`: the components' programs are named
kubelab-apiserver, kubelab-proxy and so on, and must not become commands (`kubelab proxy` is the CLI's).
So kubectl's plugins run under kubelab, and kubelab's run under the real kubectl: the dashboard is the
program `kubectl-dashboard`, so with this install's bin on $PATH `kubectl dashboard` serves it too.

kubelab's own: the
directory holding this install's programs (the venv's bin: where `kubectl-dashboard` is installed) is searched
before $PATH, as git searches its exec-path before $PATH: `.venv/bin/kubelab dashboard` runs the dashboard of
the same install without .venv/bin on $PATH, and never another checkout's.
"""
from __future__ import annotations

import os
import sys
import sysconfig
from dataclasses import dataclass
from typing import Callable, Iterable

import click

PREFIXES = ("kubectl",)
NEVER_PLUGINS = ("help",)      # kubectl does not look these up either


def executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


@dataclass(frozen=True)
class Plugin:
    path: str              # the program to exec
    args: list[str]        # what it is given (after the words that named it)


def find(args: list[str], dirs: Iterable[str], is_executable: Callable[[str], bool] = executable) -> Plugin | None:
    """The program `args` (the words after `kubelab`) name, searched in `dirs` in order; None if none does."""
    words = []
    for a in args:
        if a.startswith("-"):
            break
        words.append(a.replace("-", "_"))
    dirs = unique(dirs)
    for n in range(len(words), 0, -1):         # the longest name first
        path = lookup("-".join(words[:n]), dirs, is_executable)
        if path is not None:
            return Plugin(path, list(args[n:]))
    return None


def lookup(name: str, dirs: list[str], is_executable: Callable[[str], bool] = executable) -> str | None:
    for prefix in PREFIXES:
        for d in dirs:
            path = os.path.join(d, f"{prefix}-{name}")
            if is_executable(path):
                return path
    return None


def unique(dirs: Iterable[str]) -> list[str]:
    """`dirs` without repeats or empty entries, in order (kubectl's uniquePathsList)."""
    seen: list[str] = []
    for d in dirs:
        if d.strip() and d not in seen:
            seen.append(d)
    return seen


def search_dirs(environ: dict[str, str] | os._Environ[str] | None = None) -> list[str]:
    """This install's program directory (where the running script is, and the interpreter's scripts
    directory: `python -m kubectl` has no script of its own), then $PATH."""
    env = os.environ if environ is None else environ
    own = []
    script = sys.argv[0] if sys.argv else ""
    if os.sep in script and not script.endswith(".py"):
        own.append(os.path.dirname(os.path.abspath(script)))
    own.append(sysconfig.get_path("scripts"))
    return unique(own + env.get("PATH", "").split(os.pathsep))


def execute(plugin: Plugin) -> None:
    """Replace this process with the plugin (argv[0] is its path, as kubectl's syscall.Exec gives it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(plugin.path, [plugin.path, *plugin.args], dict(os.environ))


def dispatch(args: list[str], builtins: Iterable[str]) -> None:
    """Run the plugin `args` name if its first word is not a built-in command; return if there is none."""
    if not args or args[0].startswith("-") or args[0] in builtins or args[0] in NEVER_PLUGINS:
        return
    plugin = find(args, search_dirs())
    if plugin is not None:
        try:
            execute(plugin)
        except OSError as e:
            from kubectl.context import CLIError
            raise CLIError(f"{plugin.path}: {e.strerror or e}") from None


# ---------------------------------------------------------------- kubelab plugin list
def warnings_for(dirs: list[str], names_in: Callable[[str], list[str]], builtins: Iterable[str],
                 is_executable: Callable[[str], bool] = executable) -> list[tuple[str, list[str]]]:
    """Each plugin file in `dirs` (in order) with kubectl's warnings for it: not executable, overshadowed by
    the one that runs for the same name, or never run because a built-in command has its name."""
    found = [(d, f) for d in unique(dirs) for f in sorted(names_in(d))
             if any(f.startswith(p + "-") for p in PREFIXES)]
    builtin = set(builtins)
    out = []
    for d, f in found:
        path = os.path.join(d, f)
        name = f.split("-", 1)[1]
        says = []
        if not is_executable(path):
            says.append(f"warning: {path} identified as a kubelab plugin, but it is not executable")
        winner = lookup(name, dirs, is_executable)
        if winner is not None and winner != path:
            says.append(f"warning: {path} is overshadowed by a similarly named plugin: {winner}")
        first = name.split("-")[0]
        if first in builtin:
            says.append(f'warning: {f} overwrites existing command: "kubelab {first}"')
        out.append((path, says))
    return out


def _files(d: str) -> list[str]:
    try:
        return [e.name for e in os.scandir(d) if not e.is_dir()]
    except OSError:
        return []


@click.group("plugin")
def plugin_cmd() -> None:
    """Provides utilities for interacting with plugins.

    A plugin is a program named kubectl-NAME in this install's bin directory or on PATH, as kubectl's are;
    `kubelab NAME ARGS` runs it. `kubelab dashboard` is one (kubectl-dashboard).
    """


@plugin_cmd.command("list")
@click.option("--name-only", is_flag=True, help="Display only the binary name of each plugin, not its full path.")
def plugin_list(name_only: bool) -> None:
    """List all visible plugin executables: this install's bin directory, then PATH."""
    from kubectl.context import CLIError, err, out
    from kubectl.main import COMMANDS, cli
    listed = warnings_for(search_dirs(), _files, set(COMMANDS) | set(cli.commands))
    if not listed:
        raise CLIError("unable to find any kubelab plugins in your PATH")
    out("The following compatible plugins are available:\n")
    count = 0
    for path, says in listed:
        out(os.path.basename(path) if name_only else path)
        for s in says:
            err(f"  - {s}")
        count += len(says)
    if count:
        raise CLIError("one plugin warning was found" if count == 1 else f"{count} plugin warnings were found")
