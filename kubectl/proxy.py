"""`kubelab proxy`: what `kubectl proxy` is, a pass-through of the Kubernetes HTTP API on localhost.

    proxy [--port 8001] [--address 127.0.0.1] [--api-prefix /]

Every method and path goes to the apiserver's HTTPS API named by the kubeconfig (its CA and token),
answers streamed back (watches, logs): kubectl/apiproxy.py. The pre-1.10 pod proxy URL the tutorials
type (`/api/v1/proxy/namespaces/NS/pods/NAME/`) is sent to the current form. It runs as every component does,
through kubelab.serving (a Service: start, run, stop): Ctrl-C or SIGTERM stops it gracefully, a second signal
exits at once.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from kubectl import apiproxy
from kubectl.context import CLIError, global_options, out
from kubelab import config as kubeconfig
from kubelab import serving
from kubelab.errors import net_reason

if TYPE_CHECKING:
    from aiohttp import web


@click.command("proxy")
@click.option("-p", "--port", type=int, default=8001, show_default=True, help="The port to serve on (0: random).")
@click.option("--address", default="127.0.0.1", show_default=True, help="The IP address to serve on.")
@click.option("--api-prefix", default="/", show_default=True, help="Prefix to serve the proxied API under.")
@global_options
def proxy(port: int, address: str, api_prefix: str) -> None:
    """Run a proxy to the Kubernetes API server on localhost, as kubectl proxy does.

    \b
      kubelab proxy &
      curl http://localhost:8001/version
      curl http://localhost:8001/apis/apps/v1
      curl http://localhost:8001/api/v1/namespaces/default/pods/$POD_NAME/proxy/
    """
    try:
        conn = kubeconfig.kube_connection()
        kubeconfig.ssl_context(conn)          # a CA or client certificate that does not load is said now
    except kubeconfig.ConfigError as e:
        raise CLIError(str(e)) from None
    # Ctrl-C or SIGTERM stops it gracefully (requests in flight get PROXY_GRACE seconds); a second exits at once.
    serving.run(lambda: ProxyService(conn, address, port, api_prefix), grace=PROXY_GRACE)


PROXY_GRACE = 5.0     # seconds: a watch or `logs -f` through the proxy never ends by itself


class ProxyService:
    """The proxy as `kubelab.serving` runs a component's: start binds and says where, stop closes."""

    def __init__(self, conn: kubeconfig.KubeConnection, address: str, port: int, api_prefix: str) -> None:
        self.conn, self.address, self.port, self.api_prefix = conn, address, port, api_prefix
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        try:
            self.runner, bound = await apiproxy.serve(self.address, self.port, self.api_prefix, conn=self.conn)
        except OSError as e:
            raise CLIError(f"listen tcp {self.address}:{self.port}: bind: {net_reason(e)}") from None
        out(f"Starting to serve on {self.address}:{bound}")
        sys.stdout.flush()

    async def run(self) -> None:
        await serving.forever()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
