"""`kubelab dashboard [--port P] [--url]`: the live web page of the cluster (seed 001's `minikube dashboard`).

The command only wires the dashboard package (dashboard/) to the terminal: it reads the kubeconfig kubectl
reads ($KUBECONFIG, else ~/.kube/config, which `kubelab cluster up` writes), serves the page on 127.0.0.1
and opens the browser, or with --url prints the URL and opens nothing. It serves until Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import asyncio
import signal
import sys

import click

from kubectl.context import CLIError


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
    from dashboard.kubeapi import CredentialsError, KubeApi, load_credentials
    from dashboard.server import serve
    if not 0 <= port <= 65535:
        raise CLIError(f"invalid port {port}: must be between 0 and 65535")
    try:
        creds = load_credentials(context=context)
    except (CredentialsError, OSError, ValueError) as e:
        raise CLIError(str(e)) from None

    async def body() -> None:
        from kubelab.errors import net_reason
        try:
            runner, bound = await serve(KubeApi(creds), port)
        except OSError as e:
            raise CLIError(f"listen tcp 127.0.0.1:{port}: bind: {net_reason(e)}") from None
        url = f"http://127.0.0.1:{bound}/"
        if url_only:
            click.echo(url)
        else:
            click.echo(f"Opening {url} in your default browser...")
            import webbrowser
            if not webbrowser.open(url):      # no browser here (a server, a container): the URL still works
                click.echo(f"no browser could be started: open {url} yourself", err=True)
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):    # both graceful: open pages are told, relays stopped
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(body())
    except KeyboardInterrupt:
        pass
