"""The kubeconfig-like file the CLI and components read, and the kubeconfig kubectl reads.

`~/.kubelab/config` (or $KUBELAB_CONFIG): clusters (server address and
bearer token), contexts (cluster + namespace) and the current context.
The kubeconfig kubectl reads ($KUBECONFIG's first file, else ~/.kube/config):
`cluster up` writes its context there, and the one reader of its HTTPS
credentials (kube_connection, ssl_context) serves the dashboard and
`kubelab proxy`.
"""
from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    pass


def config_path() -> Path:
    env = os.environ.get("KUBELAB_CONFIG")
    return Path(env) if env else Path.home() / ".kubelab" / "config"


@dataclass
class Connection:
    server: str
    token: str
    namespace: str
    context: str


def empty_config() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "clusters": [], "contexts": [], "users": [],
            "current-context": ""}


def load(path: Path | None = None) -> dict[str, Any]:
    p = path or config_path()
    if not p.exists():
        return empty_config()
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid config: {e}") from None
    cfg = empty_config()
    cfg.update(data)
    return cfg


def save(cfg: dict[str, Any], path: Path | None = None) -> None:
    p = path or config_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
    os.chmod(tmp, 0o600)
    tmp.replace(p)


def _named(items: Any, name: str) -> dict[str, Any] | None:
    """The entry called `name` of a kubeconfig list (clusters, users, contexts); None when there is none (or the
    list is not one: a hand-edited file)."""
    if not isinstance(items, list):
        return None
    return next((i for i in items if isinstance(i, dict) and i.get("name") == name), None)


def upsert(items: list[dict[str, Any]], name: str, key: str, value: dict[str, Any]) -> None:
    entry = _named(items, name)
    if entry is None:
        items.append({"name": name, key: value})
    else:
        entry.setdefault(key, {}).update(value)


def set_cluster(cfg: dict[str, Any], name: str, server: str, token: str, namespace: str = "default",
                make_current: bool = True) -> None:
    """Record a cluster, its user and a context of the same name."""
    upsert(cfg["clusters"], name, "cluster", {"server": server})
    upsert(cfg["users"], name, "user", {"token": token})
    entry = _named(cfg["contexts"], name)
    if entry is None:
        cfg["contexts"].append({"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}})
    else:
        entry["context"].update({"cluster": name, "user": name})
    if make_current:
        cfg["current-context"] = name


def context(cfg: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    ctx_name = name or cfg.get("current-context") or ""
    if not ctx_name:
        raise ConfigError("current-context is not set: start a lab with `kubelab cluster up` "
                          "or choose one with `kubelab config use-context NAME`")
    entry = _named(cfg["contexts"], ctx_name)
    if entry is None:
        raise ConfigError(f'context "{ctx_name}" does not exist')
    return entry


def connection(cfg: dict[str, Any] | None = None, context_name: str | None = None,
               server: str | None = None, token: str | None = None) -> Connection:
    """Where to connect and with what, overridable by flags or environment."""
    cfg = cfg if cfg is not None else load()
    server = server or os.environ.get("KUBELAB_SERVER")
    token = token or os.environ.get("KUBELAB_TOKEN")
    if not (server and token) and not cfg.get("current-context") and not context_name:
        kube = _from_kubeconfig()
        if kube is not None:
            return Connection(server=server or kube.server, token=token or kube.token, namespace=kube.namespace,
                              context=kube.context)
    namespace, ctx_name = "default", context_name or cfg.get("current-context", "")
    if not (server and token):
        entry = context(cfg, context_name)
        ctx = entry.get("context", {})
        cluster = _named(cfg["clusters"], ctx.get("cluster", "")) or {}
        user = _named(cfg["users"], ctx.get("user", "")) or {}
        server = server or cluster.get("cluster", {}).get("server", "")
        token = token or user.get("user", {}).get("token", "")
        namespace = ctx.get("namespace") or "default"
        ctx_name = entry["name"]
        if not server:
            raise ConfigError(f'context "{ctx_name}" names no cluster server')
    return Connection(server=server, token=token or "", namespace=namespace, context=ctx_name)


# ---------------------------------------------------------------- the kubeconfig kubectl reads
# `cluster up` writes its cluster, user and context `kubelab` into the kubeconfig kubectl reads, as kind does:
# merged with what is there, made current; `cluster down` removes them. The cluster entry carries kubelab's
# gRPC address as an extension, so the kubelab CLI can find its API in the same entry.
KUBE_CONTEXT = "kubelab"
GRPC_EXTENSION = "kubelab.dev/grpc"


def kubeconfig_path() -> Path:
    """The file kubectl writes to: the first path of $KUBECONFIG, else ~/.kube/config."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return Path(first).expanduser() if first else Path.home() / ".kube" / "config"


def _upsert_entry(items: list[dict[str, Any]], name: str, key: str, value: dict[str, Any]) -> None:
    """Replace (not merge) the named entry's value, keeping its place in the list."""
    entry = _named(items, name)
    if entry is None:
        items.append({"name": name, key: value})
    else:
        entry[key] = value


def _load_kubeconfig(path: Path) -> dict[str, Any]:
    cfg = load(path)
    for key in ("clusters", "contexts", "users"):
        if not isinstance(cfg.get(key), list):
            cfg[key] = []
    cfg.setdefault("preferences", {})
    return cfg


def write_kube_context(server: str, ca_pem: bytes, token: str, grpc_address: str, namespace: str = "default",
                       name: str = KUBE_CONTEXT, path: Path | None = None) -> Path:
    """Add (or replace) cluster, user and context `name` in the kubeconfig and make it current."""
    import base64
    p = path or kubeconfig_path()
    cfg = _load_kubeconfig(p)
    _upsert_entry(cfg["clusters"], name, "cluster", {
        "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode(),
        "extensions": [{"name": GRPC_EXTENSION, "extension": {"server": grpc_address}}]})
    _upsert_entry(cfg["users"], name, "user", {"token": token})
    _upsert_entry(cfg["contexts"], name, "context", {"cluster": name, "user": name, "namespace": namespace})
    cfg["current-context"] = name
    save(cfg, p)
    return p


def remove_kube_context(name: str = KUBE_CONTEXT, path: Path | None = None) -> bool:
    """Remove what write_kube_context wrote (kind's `delete cluster`); True if there was something."""
    p = path or kubeconfig_path()
    if not p.exists():
        return False
    cfg = _load_kubeconfig(p)
    before = sum(len(cfg[k]) for k in ("clusters", "users", "contexts"))
    for key in ("clusters", "users", "contexts"):
        cfg[key] = [e for e in cfg[key] if e.get("name") != name]
    if cfg.get("current-context") == name:
        cfg["current-context"] = ""
    if sum(len(cfg[k]) for k in ("clusters", "users", "contexts")) == before:
        return False
    save(cfg, p)
    return True


def grpc_address_of(cfg: dict[str, Any], cluster_name: str) -> str:
    """kubelab's gRPC address, from the extension of a kubeconfig cluster entry ("" when none)."""
    cluster = (_named(cfg.get("clusters") or [], cluster_name) or {}).get("cluster") or {}
    for ext in cluster.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == GRPC_EXTENSION:
            return str((ext.get("extension") or {}).get("server") or "")
    return ""


@dataclass(frozen=True)
class KubeConnection:
    """What a kubeconfig context says about reaching the Kubernetes HTTP API, read as client-go's clientcmd
    reads it. The dashboard (as `Credentials`) and `kubelab proxy` connect with it, through ssl_context."""
    server: str                     # https://host:port, without a trailing slash
    token: str = ""                 # the user's bearer token: `token`, else the contents of `tokenFile`
    ca_pem: bytes | None = None     # None: the system's trust store
    insecure: bool = False          # insecure-skip-tls-verify: the server's certificate is not checked
    context: str = ""
    namespace: str = "default"
    cert_pem: bytes | None = None   # the user's client certificate and its key (client-certificate(-data),
    key_pem: bytes | None = None    # client-key(-data)), for a server that authenticates by certificate


def _file_or_data(entry: dict[str, Any], key: str, base: Path) -> bytes | None:
    """`key`-data (base64), which wins as in clientcmd, else the file `key` names (relative to the kubeconfig's
    directory, as clientcmd resolves it); None when neither is set."""
    import base64
    import binascii
    if entry.get(f"{key}-data"):
        try:
            return base64.b64decode(str(entry[f"{key}-data"]))
        except (binascii.Error, ValueError):
            raise ConfigError(f"{key}-data is not base64") from None
    if entry.get(key):
        return _read(key, str(entry[key]), base)
    return None


def _read(field: str, name: str, base: Path) -> bytes:
    path = base / Path(name).expanduser()
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(f"unable to read {field} {path}: {e.strerror or e}") from None


def kube_connection_from(cfg: dict[str, Any], context: str = "", base: Path | None = None) -> KubeConnection:
    """The HTTP API's address and credentials for `context` (else the current one) of a parsed kubeconfig;
    relative file names are taken from `base` (the kubeconfig's directory). As clientcmd: `token` wins over
    `tokenFile` (read once here, trimmed), certificate data over files, and a CA together with
    insecure-skip-tls-verify is refused."""
    base = base or Path.cwd()
    name = context or str(cfg.get("current-context") or "")
    if not name:
        raise ConfigError("no current context in the kubeconfig (start a cluster with `kubelab cluster up`)")
    ctx = (_named(cfg.get("contexts"), name) or {}).get("context")
    if not isinstance(ctx, dict):
        raise ConfigError(f'context "{name}" does not exist in the kubeconfig')
    cluster = (_named(cfg.get("clusters"), str(ctx.get("cluster") or "")) or {}).get("cluster") or {}
    user = (_named(cfg.get("users"), str(ctx.get("user") or "")) or {}).get("user") or {}
    server = str(cluster.get("server") or "")
    if not server.startswith(("https://", "http://")):
        raise ConfigError(f'context "{name}": the cluster has no https:// server address')
    ca = _file_or_data(cluster, "certificate-authority", base)
    insecure = bool(cluster.get("insecure-skip-tls-verify"))
    if ca is not None and insecure:
        raise ConfigError(f'context "{name}": specifying a root certificates file with the insecure flag is not '
                          f'allowed')
    token = str(user.get("token") or "")
    if not token and user.get("tokenFile"):
        token = _read("tokenFile", str(user["tokenFile"]), base).decode().strip()
    cert = _file_or_data(user, "client-certificate", base)
    key = _file_or_data(user, "client-key", base)
    if (cert is None) != (key is None):
        raise ConfigError(f'context "{name}": client-certificate and client-key go together (one is missing)')
    return KubeConnection(server.rstrip("/"), token, ca, insecure, name, str(ctx.get("namespace") or "default"),
                          cert, key)


def kube_connection(path: Path | None = None, context: str = "") -> KubeConnection:
    """The HTTP API's address and credentials from the kubeconfig kubectl reads (its current context, or
    `context`)."""
    p = path or kubeconfig_path()
    if not p.exists():
        raise ConfigError(f"no kubeconfig at {p} (start a cluster with `kubelab cluster up`)")
    return kube_connection_from(load(p), context, p.parent)


def ssl_context(conn: KubeConnection) -> ssl.SSLContext | bool:
    """TLS for `conn`'s server as client-go's transport sets it up: its CA (else the system's), its client
    certificate if any, no verification with insecure-skip-tls-verify; False (aiohttp's "no TLS check") for an
    http:// server."""
    if not conn.server.startswith("https://"):
        return False
    try:
        ctx = ssl.create_default_context(cadata=conn.ca_pem.decode(errors="replace") if conn.ca_pem else None)
    except ssl.SSLError as e:
        raise ConfigError(f'context "{conn.context}": the certificate authority does not load: {e.reason or e}') \
            from None
    if conn.insecure:
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if conn.cert_pem is not None and conn.key_pem is not None:
        import tempfile
        # The ssl module loads a certificate chain from files only: these live for the call, in a 0700 directory.
        with tempfile.TemporaryDirectory(prefix="kubelab-tls-") as d:
            cert, key = Path(d, "client.crt"), Path(d, "client.key")
            for path, data in ((cert, conn.cert_pem), (key, conn.key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            try:
                ctx.load_cert_chain(cert, key)
            except ssl.SSLError as e:
                raise ConfigError(f'context "{conn.context}": the client certificate and key do not load: '
                                  f'{e.reason or e}') from None
    return ctx


def _from_kubeconfig() -> Connection | None:
    """kubelab's gRPC connection from the kubeconfig kubectl reads (the current context's cluster extension),
    for when kubelab's own config names no context: both CLIs then follow the one file."""
    p = kubeconfig_path()
    if not p.exists():
        return None
    try:
        cfg = _load_kubeconfig(p)
        entry = context(cfg)
    except ConfigError:
        return None
    ctx = entry.get("context") or {}
    address = grpc_address_of(cfg, ctx.get("cluster", ""))
    if not address:
        return None
    user = (_named(cfg["users"], ctx.get("user", "")) or {}).get("user") or {}
    return Connection(server=address, token=str(user.get("token") or ""), namespace=ctx.get("namespace") or "default",
                      context=entry["name"])
