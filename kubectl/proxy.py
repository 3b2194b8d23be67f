"""`kubelab proxy`: what `kubectl proxy` is, a pass-through of the Kubernetes HTTP API on localhost.

    proxy [--port 8001] [--address 127.0.0.1] [--api-prefix /]

Every method and path goes to the apiserver's HTTPS API named by the kubeconfig (its CA and token),
answers streamed back (watches, logs): kubectl/apiproxy.py. The pre-1.10 pod proxy URL the tutorials
type (`/api/v1/proxy/namespaces/NS/pods/NAME/`) is sent to the current form.
"""
from __future__ import annotations

import asyncio
import sys

import click

from kubectl import apiproxy
from kubectl.context import CLIError, global_options, out
from kubelab import config as kubeconfig
from kubelab.errors import net_reason


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

    async def serve() -> None:
        try:
            runner, bound = await apiproxy.serve(address, port, api_prefix, conn=conn)
        except OSError as e:
            raise CLIError(f"listen tcp {address}:{port}: bind: {net_reason(e)}") from None
        out(f"Starting to serve on {address}:{bound}")
        sys.stdout.flush()
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
