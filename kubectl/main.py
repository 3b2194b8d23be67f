"""`kubelab`: the click group, lazy verb loading and error reporting.

Every failure ends here as one line on stderr and a non-zero exit code,
never a traceback: `error: ...` for local problems (bad flags, bad
manifests, config), `Error from server (Reason): ...` for API errors.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from kubectl import plugins
from kubectl.context import CLIError, Failed, api_error_line, global_options

# verb -> "module:attribute"; modules are imported only when the verb runs. Any other first word names a plugin
# (kubectl/plugins.py): `kubelab dashboard` runs the program kubectl-dashboard.
COMMANDS: dict[str, str] = {
    "annotate": "kubectl.misc:annotate",
    "api-resources": "kubectl.misc:api_resources",
    "apply": "kubectl.apply:apply",
    "attach": "kubectl.attach:attach",
    "auth": "kubectl.auth:auth",
    "cluster": "kubectl.cluster:cluster",
    "cluster-info": "kubectl.misc:cluster_info",
    "completion": "kubectl.completion:completion",
    "config": "kubectl.config_cmd:config",
    "cordon": "kubectl.nodes:cordon",
    "create": "kubectl.create_rbac:create",      # apply's `create`, with the RBAC and ServiceAccount generators
    "delete": "kubectl.delete:delete",
    "describe": "kubectl.describe:describe",
    "drain": "kubectl.nodes:drain",
    "exec": "kubectl.exec_:exec_",
    "expose": "kubectl.workloads:expose",
    "get": "kubectl.get:get",
    "image": "kubectl.image:image",
    "label": "kubectl.misc:label",
    "logs": "kubectl.logs:logs",
    "patch": "kubectl.misc:patch",
    "plugin": "kubectl.plugins:plugin_cmd",
    "port-forward": "kubectl.portforward:port_forward",
    "proxy": "kubectl.proxy:proxy",
    "replace": "kubectl.apply:replace",
    "rollout": "kubectl.rollout:rollout",
    "run": "kubectl.workloads:run_command",
    "scale": "kubectl.workloads:scale",
    "set": "kubectl.workloads:set_cmd",
    "trace": "kubectl.trace:trace",
    "uncordon": "kubectl.nodes:uncordon",
    "version": "kubectl.misc:version",
    "wait": "kubectl.wait:wait",
}

FIRST_ARG = "kubelab.first_arg"     # ctx.meta: what came first on the command line (a flag, or the verb)

_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


def _flag_spellings(cmd: click.Command) -> dict[str, tuple[str, str | None]]:
    """Each boolean flag's long name → (how to say true, how to say false: its --no- form, or None to omit),
    for `cmd` and, for a group (`create`, `rollout`), its subcommands."""
    found: dict[str, tuple[str, str | None]] = {}
    commands = [cmd] + (list(cmd.commands.values()) if isinstance(cmd, click.Group) else [])
    for c in commands:
        for p in c.params:
            if isinstance(p, click.Option) and p.is_flag and not p.count:
                off = next((o for o in p.secondary_opts if o.startswith("--")), None)
                for o in p.opts:
                    if o.startswith("--"):
                        found[o] = (o, off)
    return found


def bool_flag_values(cmd: click.Command, args: list[str]) -> list[str]:
    """kubectl takes `--flag=true|false` for every boolean flag (Go's strconv.ParseBool spellings); click
    takes only `--flag`: say it click's way. Nothing after `--` (a container's command) is touched."""
    spellings: dict[str, tuple[str, str | None]] | None = None
    out: list[str] = []
    for i, a in enumerate(args):
        if a == "--":
            return out + args[i:]
        name, eq, value = a.partition("=")
        if eq and a.startswith("--") and (value in _TRUE or value in _FALSE):
            spellings = _flag_spellings(cmd) if spellings is None else spellings
            if name in spellings:
                on, off = spellings[name]
                said = on if value in _TRUE else off
                if said is not None:
                    out.append(said)
                continue
        out.append(a)
    return out


class LazyGroup(click.Group):
    """A group whose verbs are imported on first use, with kubectl's error lines."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = COMMANDS.get(cmd_name)
        if target is not None:
            module, attr = target.split(":")
            return getattr(importlib.import_module(module), attr)
        return None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            name, cmd, rest = super().resolve_command(ctx, args)
            return name, cmd, bool_flag_values(cmd, rest) if cmd is not None else rest
        except click.UsageError as e:
            if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
                first = ctx.meta.get(FIRST_ARG)
                if first is not None and first.startswith("-") and plugins.find(args, plugins.search_dirs()):
                    # the plugin could not be given the flags click took for kubelab (kubectl says so too)
                    raise CLIError(f"flags cannot be placed before plugin name: {first}") from e
                raise click.UsageError(f'unknown command "{args[0]}" for "kubelab"') from e
            raise

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        first = args[0] if args else None
        ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta[FIRST_ARG] = first
        return ctx

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        from kubelab.serving import click_boundary
        sys.exit(click_boundary(
            lambda: super(LazyGroup, self).main(args, prog_name or "kubelab", complete_var, standalone_mode=False,
                                                **extra), _report_own))


def _err(line: str) -> None:
    click.echo(line, err=True)


def _report_own(e: Exception) -> int | None:
    """The CLI's own failures and the library's errors, as kubectl words them; None for anything else."""
    from kubelab import config, errors, manifests
    if isinstance(e, Failed):
        return e.code
    if isinstance(e, CLIError):
        _err(f"error: {e.message}")
        return e.code
    if isinstance(e, (manifests.ManifestError, config.ConfigError)):
        _err(f"error: {e}")
        return 1
    if isinstance(e, errors.ApiError):
        _err(api_error_line(e))
        return 1
    return None


COMPLETE_VAR = "_KUBELAB_COMPLETE"
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@global_options
def cli() -> None:
    """kubelab controls a kubelab cluster, the way kubectl controls Kubernetes.

    Start a lab with `kubelab cluster up --local`, then e.g.
    `kubelab apply -f app.yaml`, `kubelab get pods`, `kubelab describe pod NAME`.

    Programs named kubectl-NAME run as `kubelab NAME` (plugins, as kubectl's:
    `kubelab plugin list`); `kubelab dashboard` is one.
    """


def main(argv: list[str] | None = None) -> None:
    from kubelab.client import set_user_agent
    set_user_agent("kubelab")        # kubectl's is `kubectl/v1.x (linux/amd64) kubernetes/<commit>`
    args = list(sys.argv[1:] if argv is None else argv)
    # A plugin replaces this process: only here, in the program itself, never in cli.main (tests call it).
    if COMPLETE_VAR not in os.environ:                    # completing: click's answers, no plugin runs
        try:
            plugins.dispatch(args, cli.list_commands(click.Context(cli)))
        except CLIError as e:
            _err(f"error: {e.message}")
            sys.exit(e.code)
    cli.main(args=args, prog_name="kubelab", complete_var=COMPLETE_VAR)


if __name__ == "__main__":  # pragma: no cover
    main()
