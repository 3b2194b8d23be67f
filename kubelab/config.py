"""The kubeconfig-like file the CLI and components read.

`~/.kubelab/config` (or $KUBELAB_CONFIG): clusters (server address and
bearer token), contexts (cluster + namespace) and the current context.
"""
from __future__ import annotations

import os
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


def _named(items: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((i for i in items if i.get("name") == name), None)


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


@dataclass
class KubeConnection:
    """What a kubeconfig context says about reaching the Kubernetes HTTP API."""
    server: str              # https://host:port
    ca_pem: bytes            # b"" when the context names none (the system's CAs then)
    token: str
    namespace: str
    context: str


def kube_connection(path: Path | None = None, context_name: str | None = None) -> KubeConnection:
    """The HTTP API's address, CA and bearer token from the kubeconfig kubectl reads (its current context)."""
    import base64
    cfg = _load_kubeconfig(path or kubeconfig_path())
    entry = context(cfg, context_name)
    ctx = entry.get("context") or {}
    cluster = (_named(cfg["clusters"], ctx.get("cluster", "")) or {}).get("cluster") or {}
    user = (_named(cfg["users"], ctx.get("user", "")) or {}).get("user") or {}
    server = str(cluster.get("server") or "")
    if not server:
        raise ConfigError(f'context "{entry["name"]}" names no cluster server')
    ca = b""
    if cluster.get("certificate-authority-data"):
        ca = base64.b64decode(cluster["certificate-authority-data"])
    elif cluster.get("certificate-authority"):
        ca = Path(cluster["certificate-authority"]).expanduser().read_bytes()
    return KubeConnection(server.rstrip("/"), ca, str(user.get("token") or ""), ctx.get("namespace") or "default",
                          entry["name"])


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
