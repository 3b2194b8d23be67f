"""What every command shares: global flags, the client, the async runner, errors.

Global flags (`-n`, `--context`, `--kubeconfig`, `--server`, `--token`) are
accepted both before the verb (`kubelab -n x get pods`) and after it
(`kubelab get pods -n x`), as kubectl accepts them; both spellings land in one
`Settings` object kept on the root click context.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, TypeVar

import click

T = TypeVar("T")


class CLIError(Exception):
    """A failure to report as one `error: ...` line (exit code 1)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Failed(Exception):
    """The command already printed its errors; exit non-zero."""

    def __init__(self, code: int = 1) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Settings:
    namespace: str | None = None
    context: str | None = None
    kubeconfig: str | None = None
    server: str | None = None
    token: str | None = None
    _conn: Any = None

    @property
    def config_path(self) -> Path | None:
        return Path(self.kubeconfig).expanduser() if self.kubeconfig else None

    def load_config(self) -> dict[str, Any]:
        from kubelab import config
        try:
            return config.load(self.config_path)
        except config.ConfigError as e:
            raise CLIError(str(e)) from None

    def save_config(self, cfg: dict[str, Any]) -> None:
        from kubelab import config
        config.save(cfg, self.config_path)

    def connection(self) -> Any:
        if self._conn is None:
            from kubelab import config
            try:
                self._conn = config.connection(self.load_config(), self.context, self.server, self.token)
            except config.ConfigError as e:
                raise CLIError(str(e)) from None
        return self._conn

    def current_namespace(self) -> str:
        """-n, else the context's namespace, else `default`."""
        if self.namespace:
            return self.namespace
        try:
            return self.connection().namespace or "default"
        except CLIError:
            return "default"

    def client(self) -> Any:
        from kubelab.client import Client
        conn = self.connection()
        return Client(conn.server, conn.token, self.current_namespace(), retries=3, field_manager="kubelab")


_LAST: list[Settings] = []


def settings() -> Settings:
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return _LAST[-1] if _LAST else Settings()
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = Settings()
    _LAST[:] = [root.obj]
    return root.obj


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None:
        root = ctx.find_root()
        if not isinstance(root.obj, Settings):
            root.obj = Settings()
        _LAST[:] = [root.obj]
        setattr(root.obj, param.name, value)  # type: ignore[arg-type]
    return value


def options(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """One decorator of several (click options), applied as if written above the function in this order."""
    def apply(f: Any) -> Any:
        for d in reversed(decorators):
            f = d(f)
        return f
    return apply


_GLOBAL_OPTIONS = (
    click.option("-n", "--namespace", "namespace", default=None, expose_value=False, callback=_store,
                 is_eager=True, help="If present, the namespace scope for this request."),
    click.option("--context", "context", default=None, expose_value=False, callback=_store, is_eager=True,
                 help="The name of the kubeconfig context to use."),
    click.option("--kubeconfig", "kubeconfig", default=None, expose_value=False, callback=_store,
                 is_eager=True, help="Path to the kubeconfig file (default $KUBELAB_CONFIG or ~/.kubelab/config)."),
    click.option("-s", "--server", "server", default=None, expose_value=False, callback=_store, is_eager=True,
                 help="The address of the API server (host:port)."),
    click.option("--token", "token", default=None, expose_value=False, callback=_store, is_eager=True,
                 help="Bearer token for authentication to the API server."),
)
global_options = options(*_GLOBAL_OPTIONS)


# ---------------------------------------------------------------- running
def run(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run `fn(client)` on a fresh event loop with a connected client."""
    import asyncio
    st = settings()

    async def body() -> T:
        client = st.client()
        try:
            return await fn(client)
        finally:
            await client.close()

    return asyncio.run(body())


def run_each(items: Callable[[Any], Awaitable[Iterable[T]]], act: Callable[[Any, T], Awaitable[bool]]) -> None:
    """A verb on several objects, as kubectl does one: `act(client, item)` for each of `items(client)`; an
    ApiError is said in kubectl's words and the others still done. The command fails (exit 1) if any act did
    (returned True) or raised."""
    from kubelab import errors

    async def body(client: Any) -> bool:
        failed = False
        for item in await items(client):
            try:
                failed = bool(await act(client, item)) or failed
            except errors.ApiError as e:
                err(api_error_line(e))
                failed = True
        return failed

    if run(body):
        raise Failed(1)


def api_error_line(err: Exception) -> str:
    """`Error from server (NotFound): pods "x" not found`, as kubectl prints it."""
    from kubelab import errors
    from kubelab.client import server_answered
    # The apiserver's own 503 (its storage unavailable) is its answer, not a connection that failed.
    if isinstance(err, errors.Unavailable) and not server_answered(err) and _is_connect_failure(err):
        return connection_refused_line()
    reason = getattr(err, "reason", "InternalError")
    message = getattr(err, "message", str(err))
    return f"Error from server ({reason}): {message}"


def _is_connect_failure(err: Exception) -> bool:
    text = getattr(err, "message", str(err)).lower()
    return any(s in text for s in ("failed to connect", "connection refused", "connect failed",
                                   "dns resolution failed", "name resolution", "unavailable"))


def connection_refused_line() -> str:
    try:
        server = settings().connection().server
    except Exception:  # noqa: BLE001 - best effort, only for the message
        server = "the API server"
    return (f"The connection to the server {server} was refused - is the lab running? "
            f"(start one with `kubelab cluster up --local`)")


def err(line: str) -> None:
    click.echo(line, err=True)


def warn(line: str) -> None:
    click.echo(f"Warning: {line}", err=True)


def out(line: str = "") -> None:
    click.echo(line)


def stdout_write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
