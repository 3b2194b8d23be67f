"""`kubectl-dashboard` (run as `kubelab dashboard`, a plugin of the CLI): flags → Config →
kubelab.serving.run(Server(config)) (the life cycle is server.py's).

    kubelab dashboard [--port P] [--url] [--context NAME]

It reads the kubeconfig kubectl reads ($KUBECONFIG, else ~/.kube/config, which `kubelab cluster up` writes),
serves the page on 127.0.0.1 and opens the browser, or with --url prints the URL and opens nothing. It serves
until Ctrl-C or SIGTERM: the first is graceful, a second exits at once. Failures are one line on stderr in the
CLI's words (`error: ...`, exit status 1), never a traceback: this is a kubelab command to its user.
"""
from __future__ import annotations

import sys

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
    """The command, with the CLI's error lines (kubelab.serving.click_boundary, as `kubelab` has them)."""
    from .server import StartError

    def own(e: Exception) -> int | None:
        if isinstance(e, (Failure, StartError)):
            click.echo(f"error: {e}", err=True)
            return 1
        return None
    return serving.click_boundary(lambda: dashboard.main(args=argv, prog_name=PROG, standalone_mode=False), own)


if __name__ == "__main__":
    main()
