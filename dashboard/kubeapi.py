"""The dashboard's client of the Kubernetes HTTP API: the kubeconfig's credentials, requests, watch streams.

Below relay.py, actions.py and server.py; above aiohttp. The credentials are read once from the kubeconfig
kubectl reads ($KUBECONFIG's first file, else ~/.kube/config: the file `kubelab cluster up` writes) by
kubelab.config's one reader (a KubeConnection): the current context's server, its CA or
insecure-skip-tls-verify, and the user's bearer token (token or tokenFile) or client certificate. A response
that is not 2xx becomes an ApiError carrying the API's Status, so the page can show the API's own words
(`Error from server (Forbidden): ...`).
"""
from __future__ import annotations

import json
from typing import Any, AsyncIterator

import aiohttp

from kubelab import config as kubelab_config, kinds


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


class KubeApi:
    """One aiohttp session to the API with the user's token; opened on first use."""

    def __init__(self, creds: kubelab_config.KubeConnection, user_agent: str = "kubelab-dashboard/0.1") -> None:
        self.creds = creds
        self._headers = {"Accept": "application/json", "User-Agent": user_agent}
        if creds.token:
            self._headers["Authorization"] = f"Bearer {creds.token}"
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            try:
                tls = kubelab_config.ssl_context(self.creds)
            except kubelab_config.ConfigError as e:      # a CA or client certificate that does not load: said as kubectl would
                raise ApiError({"kind": "Status", "status": "Failure", "code": 0, "message": str(e)},
                               local=True) from None
            self._session = aiohttp.ClientSession(headers=self._headers,
                                                  connector=aiohttp.TCPConnector(ssl=tls, limit=32))
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
