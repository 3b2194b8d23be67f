"""`kubelab dashboard [--port P] [--url]`: the live web page of the cluster (seed 001's `minikube dashboard`).

The command only wires the dashboard package (dashboard/) to the terminal: it reads the kubeconfig kubectl
reads ($KUBECONFIG, else ~/.kube/config, which `kubelab cluster up` writes), serves the page on 127.0.0.1
and opens the browser, or with --url prints the URL and opens nothing. It serves until Ctrl-C or SIGTERM, as
`kubelab.serving` runs every component: the first is graceful, a second exits at once.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from kubectl.context import CLIError

if TYPE_CHECKING:
    from aiohttp import web

    from dashboard.kubeapi import Credentials


class DashboardService:
    """The page's server as `kubelab.serving` runs a component's: start serves it and opens the browser, stop
    tells open pages and stops the relays; Ctrl-C or SIGTERM is graceful, a second signal exits at once."""

    def __init__(self, creds: Credentials, port: int, url_only: bool) -> None:
        self.creds, self.port, self.url_only = creds, port, url_only
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        from dashboard.kubeapi import KubeApi
        from dashboard.server import serve
        from kubelab.errors import net_reason
        try:
            self.runner, bound = await serve(KubeApi(self.creds), self.port)
        except OSError as e:
            raise CLIError(f"listen tcp 127.0.0.1:{self.port}: bind: {net_reason(e)}") from None
        url = f"http://127.0.0.1:{bound}/"
        if self.url_only:
            click.echo(url)
        else:
            click.echo(f"Opening {url} in your default browser...")
            import webbrowser
            if not webbrowser.open(url):      # no browser here (a server, a container): the URL still works
                click.echo(f"no browser could be started: open {url} yourself", err=True)
        sys.stdout.flush()

    async def run(self) -> None:
        from kubelab.serving import forever
        await forever()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@click.command("dashboard")
@click.option("--port", type=int, default=0, help="The local port to serve the page on (0: a free one).")
@click.option("--url", "url_only", is_flag=True, help="Print the page's URL and open no browser.")
@click.option("--context", "context", default="", help="The kubeconfig context to use (default: the current).")
def dashboard(port: int, url_only: bool, context: str) -> None:
    """Serve a live web page of the cluster on 127.0.0.1 and open it in the browser.

    \b
      kubelab dashboard          # opens the browser
      kubelab dashboard --url    # prints http://127.0.0.1:PORT/ and serves until Ctrl-C
    """
    from dashboard.kubeapi import CredentialsError, load_credentials
    from kubelab import serving
    if not 0 <= port <= 65535:
        raise CLIError(f"invalid port {port}: must be between 0 and 65535")
    try:
        creds = load_credentials(context=context)
    except (CredentialsError, OSError, ValueError) as e:
        raise CLIError(str(e)) from None
    serving.run(lambda: DashboardService(creds, port, url_only))
