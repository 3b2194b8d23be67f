"""`kubelab completion bash|zsh|fish`: click's shell completion script."""
from __future__ import annotations

import click

from kubectl.context import CLIError, stdout_write


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Output shell completion code for bash, zsh or fish.

    \b
    Examples:
      source <(kubelab completion bash)
      kubelab completion zsh > "${fpath[1]}/_kubelab"
    """
    from click.shell_completion import get_completion_class

    from kubectl.main import COMPLETE_VAR, cli
    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click knows all three
        raise CLIError(f"unsupported shell type \"{shell}\"")
    comp = cls(cli, {}, "kubelab", COMPLETE_VAR)
    source = comp.source()
    stdout_write(source if source.endswith("\n") else source + "\n")
