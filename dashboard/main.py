"""`kubectl-dashboard` (run as `kubelab dashboard`, a plugin of the CLI): flags → Config →
kubelab.serving.run(Server(config)) (the life cycle is server.py's).

    kubelab dashboard [--port P] [--url] [--context NAME]

It reads the kubeconfig kubectl reads ($KUBECONFIG, else ~/.kube/config, which `kubelab cluster up` writes),
serves the page on 127.0.0.1 and opens the browser, or with --url prints the URL and opens nothing. It serves
until Ctrl-C or SIGTERM: the first is graceful, a second exits at once. Failures are one line on stderr in the
CLI's words (`error: ...`, exit status 1), never a traceback: this is a kubelab command to its user.
"""
from __future__ import annotations

import os
import sys
from typing import Any

import click

from kubelab import serving

PROG = "kubelab dashboard"      # what the user typed: usage lines and `See ... --help` say it


class Failure(Exception):
    """A reason not to start, said as one `error: ...` line."""


@click.command("dashboard", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--port", type=int, default=0, help="The local port to serve the page on (0: a free one).")
@click.option("--url", "url_only", is_flag=True, help="Print the page's URL and open no browser.")
@click.option("--context", "context", default="", help="The kubeconfig context to use (default: the current).")
def dashboard(port: int, url_only: bool, context: str) -> None:
    """Serve a live web page of the cluster on 127.0.0.1 and open it in the browser.

    \b
      kubelab dashboard          # opens the browser
      kubelab dashboard --url    # prints http://127.0.0.1:PORT/ and serves until Ctrl-C
    """
    from kubelab.config import ConfigError, kube_connection
    from .server import Config, Server
    if not 0 <= port <= 65535:
        raise Failure(f"invalid port {port}: must be between 0 and 65535")
    try:
        creds = kube_connection(context=context)
    except (ConfigError, OSError, ValueError) as e:
        raise Failure(str(e)) from None
    config = Config(creds=creds, port=port, url_only=url_only)
    serving.run(lambda: Server(config))


def main(argv: list[str] | None = None) -> None:
    sys.exit(run_command(argv))


def run_command(argv: list[str] | None = None) -> int:
    """The command, with the CLI's error lines (kubectl/main.py's LazyGroup.main, for this one command)."""
    from .server import StartError
    try:
        rv = dashboard.main(args=argv, prog_name=PROG, standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except (Failure, StartError) as e:
        return _error(f"error: {e}")
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.NoSuchOption as e:
        return _error(f"error: unknown flag: {e.option_name}", e.ctx)
    except click.ClickException as e:
        return _error(f"error: {e.format_message()}", e.ctx if isinstance(e, click.UsageError) else None)
    except click.exceptions.Abort:
        return _error("error: aborted")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - the last line of defence: no tracebacks
        if os.environ.get("KUBELAB_DEBUG"):
            import traceback
            traceback.print_exc()
        return _error(f"error: {type(e).__name__}: {e}" if str(e) else f"error: {type(e).__name__}")
    finally:
        sys.stdout.flush()


def _error(line: str, ctx: Any = None) -> int:
    click.echo(line, err=True)
    if ctx is not None:
        click.echo(f"See '{ctx.command_path} --help' for usage.", err=True)
    return 1


if __name__ == "__main__":
    main()
