"""The dashboard's client of the Kubernetes HTTP API: the kubeconfig's credentials, requests, watch streams.

Below relay.py, actions.py and server.py; above aiohttp. The credentials are read once from the kubeconfig
kubectl reads ($KUBECONFIG's first file, else ~/.kube/config: the file `kubelab cluster up` writes): the
current context's server, its CA (certificate-authority-data or -file) and the user's bearer token (token or
tokenFile). A response that is not 2xx becomes an ApiError carrying the API's Status, so the page can show the
API's own words (`Error from server (Forbidden): ...`).
"""
from __future__ import annotations

import base64
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp

from kubelab import config as kubelab_config, kinds


class CredentialsError(Exception):
    """The kubeconfig does not say how to reach an API."""


@dataclass(frozen=True)
class Credentials:
    server: str            # https://127.0.0.1:6443
    token: str
    ca_pem: bytes | None   # None: the system's trust store
    insecure: bool         # insecure-skip-tls-verify
    context: str


def _named(items: Any, name: str) -> dict[str, Any]:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("name") == name:
            return item
    return {}


def credentials_from(cfg: dict[str, Any], context: str = "") -> Credentials:
    """The server, CA and token of `context` (else the current one) in a parsed kubeconfig."""
    name = context or str(cfg.get("current-context") or "")
    if not name:
        raise CredentialsError("no current context in the kubeconfig (start a cluster with `kubelab cluster up`)")
    ctx = _named(cfg.get("contexts"), name).get("context")
    if not isinstance(ctx, dict):
        raise CredentialsError(f'context "{name}" does not exist in the kubeconfig')
    cluster = _named(cfg.get("clusters"), str(ctx.get("cluster") or "")).get("cluster") or {}
    user = _named(cfg.get("users"), str(ctx.get("user") or "")).get("user") or {}
    server = str(cluster.get("server") or "")
    if not server.startswith(("https://", "http://")):
        raise CredentialsError(f'context "{name}": the cluster has no https:// server address')
    ca: bytes | None = None
    if cluster.get("certificate-authority-data"):
        ca = base64.b64decode(str(cluster["certificate-authority-data"]))
    elif cluster.get("certificate-authority"):
        ca = Path(str(cluster["certificate-authority"])).expanduser().read_bytes()
    token = str(user.get("token") or "")
    if not token and user.get("tokenFile"):
        token = Path(str(user["tokenFile"])).expanduser().read_text().strip()
    return Credentials(server.rstrip("/"), token, ca, bool(cluster.get("insecure-skip-tls-verify")), name)


def load_credentials(path: Path | None = None, context: str = "") -> Credentials:
    p = path or kubelab_config.kubeconfig_path()
    if not p.exists():
        raise CredentialsError(f"no kubeconfig at {p} (start a cluster with `kubelab cluster up`)")
    return credentials_from(kubelab_config.load(p), context)


class ApiError(Exception):
    """A non-2xx answer, with the API's Status (or one made from the body when it sent none)."""

    def __init__(self, status: dict[str, Any], local: bool = False) -> None:
        super().__init__(status.get("message", ""))
        self.status = status
        self.local = local      # refused here, before any request: kubectl says `error: ...` for those

    @property
    def code(self) -> int:
        return int(self.status.get("code") or 0)

    def line(self) -> str:
        """As kubectl prints it."""
        if self.local:
            return f"error: {self.status.get('message', '')}"
        reason = self.status.get("reason") or "Unknown"
        return f"Error from server ({reason}): {self.status.get('message', '')}"


def status_of(code: int, body: bytes) -> dict[str, Any]:
    """The Status the API sent with `code`, or one in its shape when the body is not a Status."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        return doc
    text = body.decode("utf-8", "replace").strip()[:500]
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
            "reason": _REASONS.get(code, "Unknown"), "message": text or f"the server responded with {code}"}


_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
            409: "Conflict", 410: "Expired", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}


def unreachable(server: str, e: BaseException) -> ApiError:
    """A failed connection or a cut stream, in the words of Go's net/http (so kubectl's): `Get "https://...":
    dial tcp 127.0.0.1:6443: connect: connection refused`, `... unexpected EOF`."""
    from kubelab.errors import net_reason
    hostport = server.split("://", 1)[-1]
    if isinstance(e, aiohttp.ClientConnectorError):
        why = f"dial tcp {hostport}: connect: {net_reason(e.os_error)}"
    elif isinstance(e, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)):
        why = "unexpected EOF"
    elif isinstance(e, (TimeoutError, aiohttp.ServerTimeoutError)):
        why = f"dial tcp {hostport}: i/o timeout"
    else:
        why = str(e) or type(e).__name__
    return ApiError({"kind": "Status", "status": "Failure", "code": 0, "reason": "ServiceUnavailable",
                     "message": f"Get \"{server}\": {why}"})


def collection_path(kind: str, namespace: str = "") -> str:
    """/api/v1/pods, /apis/apps/v1/namespaces/ns/deployments, ..."""
    info = kinds.BY_KIND[kind]
    root = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    ns = f"/namespaces/{namespace}" if info.namespaced and namespace else ""
    return f"{root}{ns}/{info.plural}"


def object_path(kind: str, namespace: str, name: str, subresource: str = "") -> str:
    from urllib.parse import quote
    path = f"{collection_path(kind, namespace)}/{quote(name, safe='')}"
    return f"{path}/{subresource}" if subresource else path


def ssl_context(creds: Credentials) -> ssl.SSLContext | bool:
    if not creds.server.startswith("https://"):
        return False
    if creds.insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context(cadata=creds.ca_pem.decode() if creds.ca_pem else None)
    return ctx


class KubeApi:
    """One aiohttp session to the API with the user's token; opened on first use."""

    def __init__(self, creds: Credentials, user_agent: str = "kubelab-dashboard/0.1") -> None:
        self.creds = creds
        self._headers = {"Accept": "application/json", "User-Agent": user_agent}
        if creds.token:
            self._headers["Authorization"] = f"Bearer {creds.token}"
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers, connector=aiohttp.TCPConnector(ssl=ssl_context(self.creds), limit=32))
        return self._session

    async def request(self, method: str, path: str, body: Any = None,
                      content_type: str = "application/json") -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else {}
        try:
            async with self.session().request(method, self.creds.server + path, data=data, headers=headers,
                                              timeout=aiohttp.ClientTimeout(total=30)) as resp:
                raw = await resp.read()
                if resp.status >= 300:
                    raise ApiError(status_of(resp.status, raw))
                return json.loads(raw) if raw else {}
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            raise unreachable(self.creds.server, e) from e

    async def watch_lines(self, path: str) -> AsyncIterator[bytes]:
        """The lines of a watch response (one JSON event each); ApiError when it does not start."""
        try:
            async with self.session().get(self.creds.server + path,
                                          timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)) as resp:
                if resp.status >= 300:
                    raise ApiError(status_of(resp.status, await resp.read()))
                # Split by hand: StreamReader.readline refuses lines over 128 KiB, and an object may be larger.
                buf = b""
                async for chunk in resp.content.iter_any():
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield line
        except (aiohttp.ClientError, OSError) as e:
            raise unreachable(self.creds.server, e) from e

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
