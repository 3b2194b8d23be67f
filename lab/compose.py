"""The compose lab: `kubelab cluster up` / `down` without `--local`.

    up:   docker reachable? → images/build.py (builds what is missing or stale,
          ~1 s when all is cached) → `docker compose up -d` (or docker-compose)
          → the bootstrap service writes tokens, etcd's certificates and the
          kubeconfig → wait until the API answers and every node is Ready →
          print what to do next
    down: stop the node containers (so no kubelet recreates a pod) → remove
          every pod container and volume their kubelets made (by label; each
          disconnected from the pod network first) → `compose down -v` → remove
          the networks, force-disconnecting endpoints Docker still holds → remove
          the lab's context from the kubeconfig. What Docker will not remove is
          reported; `down` fails only when a container of the lab is left.
          `down --keep-data` (as kind's/minikube's `stop`) keeps the volumes:
          etcd's data, the tokens and the certificates; the next `up` finds
          every object again and the kubelets start their pods anew.

etcd is on the internal kubelab-control-plane network with the apiserver (pods
are on `kubelab` only) and answers only the apiserver's client certificate.

Credentials: the tokens live in the kubelab-secrets volume, which only the
bootstrap service and the apiservers mount; each component gets its own token
alone in a volume of its own (kubelab-scheduler-credentials, ...), and each
node its kubelet.conf at /etc/kubernetes (kubelab-nodeN-credentials), which
its kubelet reads (lab/identities.py).

`up(ha=True)` (`kubelab cluster up --ha`) adds compose.ha.yaml: three etcd
members, two apiservers (both known to every client, which fails over), two
schedulers and two controller managers electing leaders on Leases, and a load
balancer over both apiservers' HTTPS (proxy/lb.py), which is kubectl's
kubeconfig server then (a kubeconfig holds one server).

compose.yaml (next to this package in a checkout) defines etcd, the control
plane and nodes node1..node3; more nodes are added by a generated override
file. It works with the `docker compose` plugin and with Debian's
docker-compose 1.29, and on its own (`docker compose up -d`) once the images
exist: the bootstrap service then writes ~/.kubelab/config itself.

`python -m lab.compose up|down|bootstrap|health` is the same code as a
command (scripts/lab-up.sh and the compose services use it).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from kubelab import config as kubeconfig
from kubelab.catalogue import CATALOGUE

from lab import docker_store, identities, pki

PROJECT = "kubelab"
CONTEXT = "kubelab"
NETWORK = "kubelab"                      # components, nodes and pods
CONTROL_NETWORK = "kubelab-control-plane"  # etcd and the apiserver only
CREDENTIAL_HOMES = ("scheduler", "controller-manager", "dns", "proxy")   # each a volume of its own (lab/identities.py)
VOLUMES = ("kubelab-etcd-data", "kubelab-secrets", "kubelab-etcd-pki", "kubelab-etcd2-data", "kubelab-etcd3-data",
           *(f"kubelab-{home}-credentials" for home in CREDENTIAL_HOMES))
LOCKS_VOLUME = "kubelab-locks"       # the nodes' shared lock files (kubelet --endpoint-lock-file): no data
HA_FILE = "compose.ha.yaml"          # the highly available lab: three etcd members, two of each control-plane part
HA_SERVICES = ("etcd2", "etcd3", "apiserver2", "apiserver-lb", "scheduler2", "controller-manager2")
HA_NODES = 2                         # nodes of `up --ha` unless told otherwise (the machine is small)
REGISTRY_VOLUME = "kubelab-registry"       # external: `down` keeps it, so what was pushed survives a restart
REGISTRY_URL = "http://127.0.0.1:5000"     # the registry service, published on the host's loopback
MIRROR_VOLUME = "kubelab-registry-mirror"  # external: the stand-ins, pushed again only when stale
MIRROR_URL = "http://127.0.0.1:5001"       # registry-mirror: read-only, the tutorials' names (catalogue.MIRROR)
MIRROR_FILLER = "kubelab-registry-mirror-fill"   # the short-lived writable instance that fills its storage
API_PORT = 6443
COMPOSE_NODES = 3                    # nodes written out in compose.yaml
LAB_LABEL = "io.kubelab.lab"         # every compose service carries it (value: the component)
NODE_LABEL = "io.kubelab.node"       # every pod container and volume (value: the node)


class LabError(Exception):
    pass


def _say(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


# ---------------------------------------------------------------- where things are
def repo_root() -> Path:
    """The checkout holding compose.yaml and images/ ($KUBELAB_REPO, else next to this package, else cwd)."""
    candidates = [os.environ.get("KUBELAB_REPO", ""), str(Path(__file__).resolve().parents[1]), os.getcwd()]
    for c in candidates:
        if c and (Path(c) / "compose.yaml").exists():
            return Path(c).resolve()
    raise LabError("compose.yaml not found: run from a kubelab checkout or set KUBELAB_REPO")


def state_dir() -> Path:
    return Path(os.environ.get("KUBELAB_LAB_STATE", Path.home() / ".kubelab" / "lab"))


def compose_command() -> list[str]:
    """`docker compose` (the plugin) when present, else Debian's `docker-compose`."""
    if shutil.which("docker") is None:
        raise LabError("docker is not installed (on Debian: apt-get install docker.io)")
    try:
        if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20).returncode == 0:
            return ["docker", "compose"]
    except (OSError, subprocess.TimeoutExpired):
        pass
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise LabError("neither `docker compose` nor `docker-compose` is available "
                   "(on Debian: apt-get install docker-compose)")


def _docker(*args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def docker_available() -> None:
    try:
        r = _docker("info", "--format", "{{.ServerVersion}}", timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LabError(f"docker does not answer: {e}") from None
    if r.returncode != 0:
        raise LabError(f"cannot talk to the Docker engine: {r.stderr.strip()}")


def _node_override(nodes: int, ha: bool = False) -> Path | None:
    """compose.yaml has node1..node3; more nodes come from a generated override file: each node and its
    proxy as node3's, and the node's own credential volume (which the bootstrap service fills)."""
    if nodes <= COMPOSE_NODES:
        return None
    import yaml
    base = yaml.safe_load((repo_root() / "compose.yaml").read_text())
    proxy_env = None
    if ha:          # the proxies know every apiserver, as compose.ha.yaml's do
        proxy_env = yaml.safe_load((repo_root() / HA_FILE).read_text())["services"][f"proxy{COMPOSE_NODES}"]
    services: dict[str, Any] = {"bootstrap": {"volumes": []}}
    volumes: dict[str, Any] = {}
    for kind in ("node", "proxy"):          # each node has its proxy (in its network namespace)
        template = base["services"].get(f"{kind}{COMPOSE_NODES}")
        if template is None:
            continue
        for i in range(COMPOSE_NODES + 1, nodes + 1):
            text = json.dumps(template).replace(f"node{COMPOSE_NODES}", f"node{i}")
            services[f"{kind}{i}"] = json.loads(text.replace(f"proxy{COMPOSE_NODES}", f"proxy{i}"))
            if kind == "proxy" and proxy_env is not None:
                services[f"{kind}{i}"]["environment"] = proxy_env["environment"]
    for i in range(COMPOSE_NODES + 1, nodes + 1):
        services["bootstrap"]["volumes"].append(f"node{i}-credentials:/credentials/node{i}")
        volumes[f"node{i}-credentials"] = {"name": f"kubelab-node{i}-credentials"}
    path = state_dir() / "compose.nodes.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"services": services, "volumes": volumes}, sort_keys=False))
    return path


def _kubeconfig_path() -> Path:
    return kubeconfig.config_path().expanduser().resolve()


def compose_env(api_port: int = API_PORT) -> dict[str, str]:
    path = _kubeconfig_path()
    env = dict(os.environ)
    env.update({"KUBELAB_CONFIG_DIR": str(path.parent), "KUBELAB_CONFIG_FILE": path.name,
                "KUBELAB_API_PORT": str(api_port), "COMPOSE_PROJECT_NAME": PROJECT})
    return env


def compose(args: list[str], nodes: int = COMPOSE_NODES, api_port: int = API_PORT, check: bool = True,
            capture: bool = False, ha: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = compose_command() + ["-p", PROJECT, "-f", str(repo_root() / "compose.yaml")]
    if ha:
        cmd += ["-f", str(repo_root() / HA_FILE)]
    override = _node_override(nodes, ha)
    if override is not None:
        cmd += ["-f", str(override)]
    env = {**compose_env(api_port), "KUBELAB_NODES": str(max(nodes, COMPOSE_NODES))}
    r = subprocess.run(cmd + args, env=env, text=True, capture_output=capture,
                       cwd=repo_root())
    if check and r.returncode != 0:
        detail = (r.stderr or "").strip()[-2000:] if capture else ""
        raise LabError(f"`{' '.join(cmd[:2] + args)}` failed (exit {r.returncode}){': ' + detail if detail else ''}")
    return r


# ---------------------------------------------------------------- images
def missing_images() -> list[str]:
    """Catalogue images the engine lacks (the lab's own and those its pods may run)."""
    return [i for i in CATALOGUE if _docker("image", "inspect", i).returncode != 0]


def build_images(quiet: bool = False) -> None:
    """images/build.py: builds what is missing or stale (the project image follows the sources)."""
    script = repo_root() / "images" / "build.py"
    if not script.exists():
        missing = missing_images()
        if missing:
            raise LabError(f"images missing ({', '.join(missing)}) and no images/build.py to build them")
        return
    r = subprocess.run([sys.executable, str(script)], cwd=repo_root(),
                       stdout=subprocess.DEVNULL if quiet else None)
    if r.returncode != 0:
        raise LabError(f"building the images failed (exit {r.returncode}); logs in images/.cache/logs/")


# ---------------------------------------------------------------- waiting on HTTP
def wait_http(url: str, what: str, logs_of: str, timeout: float = 60.0, ca_pem: bytes | None = None,
              token: str = "") -> None:
    """Until GET `url` answers 200 (over TLS with `ca_pem` trusted, with `token` as bearer when given)."""
    import ssl
    import urllib.error
    import urllib.request
    context = ssl.create_default_context(cadata=ca_pem.decode()) if ca_pem else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=3,
                                        context=context) as r:
                if r.status == 200:
                    return
                last = f"HTTP {r.status}"
        except (urllib.error.URLError, OSError) as e:      # HTTPError (503 not ready) is a URLError
            last = str(e)
        time.sleep(0.25)
    raise LabError(f"{what} did not answer on {url} within {timeout:.0f}s: {last} (see `docker logs {logs_of}`)")


def wait_registry(timeout: float = 60.0, url: str = REGISTRY_URL,
                  container: str = "kubelab-registry") -> None:
    """Until a lab registry answers its API (GET /v2/ → 200)."""
    wait_http(f"{url}/v2/", "the lab registry", container, timeout)


def _standins(*actions: str, quiet: bool = False, silent: bool = False) -> int:
    script = repo_root() / "images" / "standins.py"
    return subprocess.run([sys.executable, str(script), *actions], cwd=repo_root(),
                          stdout=subprocess.DEVNULL if quiet or silent else None,
                          stderr=subprocess.DEVNULL if silent else None).returncode


def fill_registry(quiet: bool = False, nodes: int = COMPOSE_NODES, api_port: int = API_PORT) -> None:
    """Serve the tutorials' stand-ins from the read-only mirror (registry-mirror) and tag them on this engine
    (images/standins.py). A read-only registry takes no push, so when the mirror lacks a stand-in (first
    start, a rebuilt lab image) it is stopped, a writable instance on the same storage and port takes the
    pushes, and the mirror starts again; when it serves them all, nothing is pushed."""
    if _standins("build", quiet=quiet) != 0:
        raise LabError("building the stand-ins failed (images/standins.py build)")
    wait_registry(url=MIRROR_URL, container="kubelab-registry-mirror")
    if _standins("check", silent=True) != 0:
        compose(["rm", "-s", "-f", "registry-mirror"], nodes=nodes, api_port=api_port, capture=True)
        _docker("rm", "-f", MIRROR_FILLER)
        _docker("run", "-d", "--name", MIRROR_FILLER, "--label", f"{LAB_LABEL}=registry-mirror-fill",
                "-v", f"{MIRROR_VOLUME}:/var/lib/docker-registry", "-p", "127.0.0.1:5001:5000",
                "kubelab/registry:latest", check=True)
        try:
            wait_registry(url=MIRROR_URL, container=MIRROR_FILLER)
            if _standins("push", quiet=quiet) != 0:
                raise LabError("pushing the stand-ins into the lab's mirror failed (images/standins.py push)")
        finally:
            _docker("rm", "-f", MIRROR_FILLER)
        compose(["up", "-d", "registry-mirror"], nodes=nodes, api_port=api_port)
        wait_registry(url=MIRROR_URL, container="kubelab-registry-mirror")
    if _standins("check", "tag", quiet=quiet) != 0:
        raise LabError("the lab's mirror does not serve every stand-in after filling it (images/standins.py "
                       "check; see `docker logs kubelab-registry-mirror`)")


# ---------------------------------------------------------------- up
def heartbeat_ready(node: Any, since: float) -> bool:
    """Ready, said by a heartbeat at or after `since` (seconds since the epoch): a lab started again with
    its data kept (`down --keep-data`) holds the Node objects of its last run, Ready until the controller
    manager notices their silence; only a new heartbeat says this run's kubelet is there."""
    from kubelab import conditions, timeutil
    ready = conditions.get(node.status.conditions, "Ready")
    return conditions.node_ready(node) and (timeutil.parse(ready.last_heartbeat_time) or 0) >= since - 1


async def _wait_ready(nodes: int, timeout: float, quiet: bool, since: float = 0.0) -> dict[str, Any]:
    """Wait for the kubeconfig (written by the bootstrap service), the API, then `nodes` Ready nodes
    (heartbeating since `since`).

    The kubeconfig is read again on every round: a context left by an earlier lab may hold an
    old token until the bootstrap service has rewritten it.
    """
    from kubelab.client import Client
    deadline = time.monotonic() + timeout
    path = _kubeconfig_path()
    client: Client | None = None
    key: tuple[str, str] | None = None
    last = "no kubeconfig context yet"
    try:
        while time.monotonic() < deadline:
            conn = None
            try:
                cfg = kubeconfig.load(path)
                if any(c.get("name") == CONTEXT for c in cfg.get("contexts", [])):
                    conn = kubeconfig.connection(cfg, CONTEXT)
            except kubeconfig.ConfigError as e:
                last = str(e)
            if conn is not None:
                if key != (conn.server, conn.token):
                    if client is not None:
                        await client.close()
                    client, key = Client(conn.server, conn.token, retries=0), (conn.server, conn.token)
                assert client is not None
                try:
                    items, _ = await client.list("Node")
                    ready = sorted(n.metadata.name for n in items if heartbeat_ready(n, since))
                    if len(ready) >= nodes:
                        return {"server": conn.server, "token": conn.token, "nodes": ready}
                    last = f"{len(ready)}/{nodes} nodes Ready"
                except Exception as e:  # noqa: BLE001 - not up yet
                    last = f"apiserver not answering yet ({type(e).__name__}: {str(e)[:120]})"
            await asyncio.sleep(0.25)
    finally:
        if client is not None:
            await client.close()
    raise LabError(f"the lab did not become ready within {timeout:.0f}s: {last} (see `docker logs "
                   f"kubelab-bootstrap`, `docker logs kubelab-apiserver`, `docker logs kubelab-node1`)")


SERVICE_CLUSTER_IP = "10.96.0.1"        # the `kubernetes` Service's, named in the serving certificate
CA_FILE = "kubelab-ca.crt"              # the lab CA's certificate, beside the kubelab config on the host


def https_port() -> int:
    """The host port the HTTP API is published on (compose.yaml's KUBELAB_HTTPS_PORT)."""
    return int(os.environ.get("KUBELAB_HTTPS_PORT", "8443"))


def lb_port() -> int:
    """The HA lab's host port for kubectl: the load balancer over both apiservers' HTTPS (compose.ha.yaml's
    apiserver-lb, KUBELAB_LB_PORT)."""
    return int(os.environ.get("KUBELAB_LB_PORT", "8442"))


def up(nodes: int | None = None, build: bool = True, timeout: float = 180.0, api_port: int = API_PORT,
       quiet: bool = False, ha: bool = False) -> dict[str, Any]:
    """Bring the compose lab up and return {server, token, nodes, seconds}.

    `ha`: compose.ha.yaml too (three etcd members, two apiservers, schedulers and controller managers);
    `server` then lists both apiservers (host:port,host:port), `https` (kubectl's kubeconfig server) is the
    load balancer over both (apiserver-lb), and `nodes` defaults to HA_NODES."""
    if nodes is None:
        nodes = HA_NODES if ha else COMPOSE_NODES
    if nodes < 1:
        raise LabError("a lab needs at least one node")
    t0 = time.monotonic()
    docker_available()
    if build:
        _say("--- images (images/build.py)", quiet)
        build_images(quiet)
    else:
        missing = missing_images()
        if missing:
            raise LabError(f"images missing: {', '.join(missing)} (run python3 images/build.py)")
    _kubeconfig_path().parent.mkdir(parents=True, exist_ok=True)    # ours, not root's (a bind mount)
    t1 = time.monotonic()
    _say(f"--- starting the lab ({nodes} nodes{', highly available' if ha else ''})", quiet)
    _docker("volume", "create", "--label", f"{LAB_LABEL}=registry", REGISTRY_VOLUME, check=True)
    _docker("volume", "create", "--label", f"{LAB_LABEL}=registry-mirror", MIRROR_VOLUME, check=True)
    started = time.time()
    services = ["registry", "registry-mirror", "bootstrap", "etcd", "apiserver", "scheduler", "controller-manager",
                "dns"] + (list(HA_SERVICES) if ha else []) + \
        [f"node{i}" for i in range(1, nodes + 1)] + [f"proxy{i}" for i in range(1, nodes + 1)]
    compose(["up", "-d", "--remove-orphans", *services], nodes=nodes, api_port=api_port, ha=ha)
    wait_registry()
    _say("--- the lab's mirror: the tutorials' images (stand-ins, read-only)", quiet)
    fill_registry(quiet, nodes=nodes, api_port=api_port)
    info = asyncio.run(_wait_ready(nodes, timeout, quiet, since=started))
    asyncio.run(identities.bind_view(info["server"], info["token"]))
    # kubectl's server: one address (a kubeconfig holds one); in the HA lab the load balancer over both.
    info["https"] = f"https://127.0.0.1:{lb_port() if ha else https_port()}"
    ca_pem = (_kubeconfig_path().parent / CA_FILE).read_bytes()
    # kubectl's way in answers before `up` returns: in the HA lab the load balancer finds its apiservers by
    # probing them, and a kubectl right after `up` must not meet a balancer with none yet.
    wait_http(f"{info['https']}/readyz", "the Kubernetes HTTP API",
              "kubelab-apiserver-lb" if ha else "kubelab-apiserver", timeout=60, ca_pem=ca_pem, token=info["token"])
    info["kubeconfig"] = str(kubeconfig.write_kube_context(info["https"], ca_pem, info["token"], info["server"]))
    info["ha"] = ha
    info["seconds"] = round(time.monotonic() - t1, 1)
    info["total_seconds"] = round(time.monotonic() - t0, 1)
    _say(f"--- lab ready in {info['seconds']}s: nodes {', '.join(info['nodes'])}; "
         f"apiserver {info['server']} (gRPC) and {info['https']} (Kubernetes HTTP API), "
         f"context \"{CONTEXT}\" in {_kubeconfig_path()} and in {info['kubeconfig']} (kubectl's)", quiet)
    _say(NEXT_STEPS, quiet)
    return info


NEXT_STEPS = """
Try:
  kubelab get nodes -o wide
  kubelab run hello --image=kubelab/hello:v1 --port=8080
  kubelab create deployment web --image=kubelab/web --replicas=3
  kubelab get pods -o wide
  kubelab logs -f deployment/web
  kubelab exec -it deployment/web -- bash        # Debian's nginx: apt update && apt install -y curl works
  kubelab port-forward deployment/web 8080:80     # then: curl localhost:8080
  kubelab expose deployment/web --type=NodePort --port 80
  kubelab get service web; kubelab get nodes -o wide   # then: curl <INTERNAL-IP>:<NodePort>
  kubelab run bastion --image=kubelab/busybox --command -- sleep 3600
  kubelab exec bastion -- wget -qO- http://web/       # ClusterIP by its DNS name, from a pod
  kubelab proxy                                   # then: curl localhost:8001/version
  docker ps --filter label=io.kubelab.node        # pods are containers on this Docker engine
  docker stop kubelab-node2                       # simulate losing a node
Stop it (and every pod container) with: kubelab cluster down
"""


# ---------------------------------------------------------------- down
def _lab_node_names() -> list[str]:
    r = _docker("ps", "-a", "--filter", f"label={LAB_LABEL}=node", "--format", '{{.Label "io.kubelab.node-name"}}')
    return sorted({n for n in r.stdout.split() if n})


def _endpoints(network: str) -> dict[str, str]:
    """Container id → name of every endpoint Docker lists on `network` ({} when there is no such network)."""
    r = _docker("network", "inspect", network, "--format", "{{json .Containers}}")
    if r.returncode != 0:
        return {}
    return {cid: str(e.get("Name", "")) for cid, e in (json.loads(r.stdout.strip() or "null") or {}).items()}


def _disconnect(network: str, containers: Iterable[str]) -> None:
    """Force each container (id or name) off `network`, one at a time: Docker 20.10 miscounts a network's
    endpoints removed at once, and then never removes the network (docs/troubleshooting.md)."""
    for cid in sorted(set(containers)):
        if cid:
            _docker("network", "disconnect", "-f", network, cid)


def remove_pod_containers(node_names: list[str] | None = None) -> int:
    """Remove pod containers (and their emptyDir volumes) of the given nodes (default: every node).

    Each one attached to the pod network is disconnected first: Docker then releases its endpoint on its
    own, not in the middle of a forced removal (where an interrupted removal leaves an endpoint no container
    owns, and the network can never be removed)."""
    filters = [f"label={NODE_LABEL}={n}" for n in node_names] if node_names is not None else [
        f"label={NODE_LABEL}"]
    ids: set[str] = set()
    for f in filters:
        r = _docker("ps", "-aq", "--no-trunc", "--filter", f, "--filter", "label=io.kubelab.uid")
        ids |= set(r.stdout.split())
    _disconnect(NETWORK, ids & set(_endpoints(NETWORK)))
    if ids:
        _docker("rm", "-f", "-v", *sorted(ids), timeout=300)
    vols: set[str] = set()
    for f in filters:
        r = _docker("volume", "ls", "-q", "--filter", f, "--filter", "label=io.kubelab.uid")
        vols |= set(r.stdout.split())
    if vols:
        _docker("volume", "rm", "-f", *sorted(vols))
    return len(ids)


def remove_network(network: str, known: Iterable[str] = ()) -> str | None:
    """Remove `network`; None when it is gone, else why not.

    When Docker says it still has active endpoints, each is force-disconnected (`docker network disconnect
    -f`), both those it lists and those of `known` containers (their names, taken before they were
    removed: an endpoint can outlive its container, and then no inspect lists it), and removal is tried
    again."""
    if _docker("network", "inspect", network).returncode != 0:
        return None
    r = _docker("network", "rm", network)
    if r.returncode == 0:
        return None
    _disconnect(network, {*_endpoints(network).values(), *known})
    r = _docker("network", "rm", network)
    if r.returncode == 0 or _docker("network", "inspect", network).returncode != 0:
        return None
    return f"network {network} was not removed: {r.stderr.strip()[-300:]}" + _count_drift(network)


def _count_drift(network: str) -> str:
    """Why Docker keeps a network no container is on, when its own count says so (lab/docker_store.py)."""
    try:
        c = docker_store.endpoint_count(docker_store.network_id(network))
    except (OSError, RuntimeError):
        return ""          # dockerd's store is root's: the message above is all there is to say
    if c.drift <= 0:
        return ""
    return (f"; Docker counts {c.count} endpoint(s) on it but holds {len(c.endpoints)}: its count is wrong "
            f"(a Docker 20.10 fault with endpoints removed at once: docs/troubleshooting.md), and only a restart of "
            f"dockerd corrects it")


def down(quiet: bool = False, keep_data: bool = False) -> dict[str, Any]:
    """Remove the lab: its services, every pod container its kubelets made, volumes, networks, context.

    What Docker will not remove (a network holding an endpoint no container owns) is reported, and `down`
    still succeeds when no container of the lab is left: the next `up` reuses such a network.
    `keep_data` keeps the lab's volumes (etcd's data, tokens, certificates): the next `up` is the same
    cluster, with every object, whose kubelets recreate the pods bound to them (pod containers never
    survive `down`: they are the nodes', and the nodes are removed)."""
    docker_available()
    nodes = _lab_node_names()
    node_ids = _docker("ps", "-aq", "--filter", f"label={LAB_LABEL}=node").stdout.split()
    # No kubelet may recreate what we remove. One at a time, as every endpoint below leaves its network:
    # Docker 20.10 miscounts a network's endpoints removed at once, and then never removes the network
    # (kubelet/docker_runtime.py's EndpointLock; `docker stop a b c` stops them in parallel).
    for nid in node_ids:
        _docker("stop", "-t", "5", nid, timeout=120)
    attached = {net: list(_endpoints(net).values()) for net in (NETWORK, CONTROL_NETWORK)}
    removed = remove_pod_containers(nodes or ["node1", "node2", "node3"])
    for net in (NETWORK, CONTROL_NETWORK):      # compose removes its containers in parallel: none holds one
        _disconnect(net, _endpoints(net))
    extra = max((int(n[4:]) for n in nodes if n.startswith("node") and n[4:].isdigit()), default=0)
    # With compose.ha.yaml: whichever lab ran, every service and volume either may have is named.
    r = compose(["down", *([] if keep_data else ["-v"]), "--remove-orphans", "-t", "5"],
                nodes=max(extra, COMPOSE_NODES), check=False, capture=True, ha=True)
    # Services started under another project name (plain `docker compose up` elsewhere): by label.
    leftovers = _docker("ps", "-aq", "--filter", f"label={LAB_LABEL}").stdout.split()
    if leftovers:
        _docker("rm", "-f", "-v", *leftovers, timeout=120)
    problems = [why for net in (NETWORK, CONTROL_NETWORK) if (why := remove_network(net, attached[net]))]
    node_volumes = [f"kubelab-node{i}-credentials" for i in range(1, max(extra, COMPOSE_NODES) + 1)]
    for vol in (LOCKS_VOLUME,) if keep_data else (*VOLUMES, *node_volumes, LOCKS_VOLUME):
        _docker("volume", "rm", "-f", vol)
    _remove_context()
    kubeconfig.remove_kube_context()
    left = _docker("ps", "-aq", "--filter", f"label={LAB_LABEL}").stdout.split() + \
        _docker("ps", "-aq", "--filter", f"label={NODE_LABEL}").stdout.split()
    if left:
        raise LabError(f"the lab was not removed completely: {len(left)} containers left "
                       f"({' '.join(sorted(left)[:10])}); {'; '.join(problems)} {(r.stderr or '').strip()[-500:]}")
    for why in problems:
        print(f"warning: {why} (no container of the lab is left; the next `kubelab cluster up` reuses it)",
              file=sys.stderr, flush=True)
    _say(f"lab removed ({removed} pod containers)" + (f"; its data kept in {', '.join(VOLUMES)}" if keep_data
                                                      else ""), quiet)
    return {"pod_containers": removed, "nodes": nodes, "problems": problems, "kept": list(VOLUMES) if keep_data else []}


def _remove_context() -> None:
    path = _kubeconfig_path()
    if not path.exists():
        return
    try:
        cfg = kubeconfig.load(path)
    except kubeconfig.ConfigError:
        return
    if any(c.get("name") == CONTEXT for c in cfg["contexts"]):
        for key in ("clusters", "users", "contexts"):
            cfg[key] = [c for c in cfg[key] if c.get("name") != CONTEXT]
        if cfg.get("current-context") == CONTEXT:
            cfg["current-context"] = ""
        kubeconfig.save(cfg, path)



# ---------------------------------------------------------------- inside the lab's containers
def etcd_certificates(directory: Path) -> None:
    """etcd's CA (kept across restarts of the lab), its serving certificate for the names the apiserver dials,
    and the apiserver's client certificate: etcd runs with --client-cert-auth, so nobody else gets an answer."""
    ca = pki.load_or_make_ca(directory)
    # Also for client use: etcd's own gateway dials its gRPC port with it under --client-cert-auth.
    # One certificate for every member (compose.ha.yaml's three use it for peers too).
    members = ["etcd", "etcd2", "etcd3"]
    pki.save(pki.issue(ca, "etcd", server_names=[*members, *(f"kubelab-{m}" for m in members), "localhost",
                                                  "127.0.0.1"], client=True),
             directory, "etcd")
    pki.save(pki.issue(ca, "kube-apiserver-etcd-client", client=True, organizations=["system:masters"]),
             directory, "apiserver-etcd-client")


def bootstrap(secrets_dir: Path, kubeconfig_dir: Path, kubeconfig_file: str, server: str,
              etcd_pki: Path | None = None, nodes: int = 0, credentials: Path | None = None,
              cluster_servers: str = "apiserver:6443", cluster_https: str = "https://apiserver:8443") -> None:
    """The compose `bootstrap` service: tokens (kept in a volume), etcd's certificates, each component's own
    credential (in its own volume under `credentials`) and the host's kubeconfig.

    `server` is where the host's CLI dials (comma-separated: several apiservers, the client fails over);
    `cluster_servers` and `cluster_https` where the nodes do, written into their kubelet.conf."""
    pki.secure_dir(secrets_dir)
    tokens = {}
    for name in ("token", "kubelet-token"):
        p = secrets_dir / name
        if not p.exists() or not p.read_text().strip():
            pki.write_private(p, secrets.token_urlsafe(24).encode())
        os.chmod(p, 0o600)
        tokens[name] = p.read_text().strip()
    # A credential per component and per node (the apiserver's --token-auth-file, /secrets/tokens.csv).
    node_names = [f"node{i}" for i in range(1, nodes + 1)]
    component_tokens = identities.write_tokens(secrets_dir, node_names)
    kubeconfig_dir.mkdir(parents=True, exist_ok=True)
    ca_pem = b""
    if etcd_pki is not None:
        etcd_certificates(etcd_pki)
        # The HTTPS API's serving certificate, by the same CA; the CA (public) goes to the host, whose
        # `cluster up` writes it into kubectl's kubeconfig as certificate-authority-data.
        _, _, ca_pem = pki.apiserver_certificates(etcd_pki, SERVICE_CLUSTER_IP)
        (kubeconfig_dir / CA_FILE).write_bytes(ca_pem)
        # ServiceAccount tokens' signing key beside the CA (the apiservers only).
        pki.load_or_make_service_account_key(etcd_pki)
    if credentials is not None:
        # Each component's volume gets its own credential and nothing else; each node its kubelet.conf and
        # the lab CA (pki/ca.crt, where kubeadm puts it), which its kubelet gives pods as ca.crt.
        identities.distribute(component_tokens, node_names, credentials, cluster_https, ca_pem, cluster_servers,
                              tokens["kubelet-token"])
    path = kubeconfig_dir / kubeconfig_file
    cfg = kubeconfig.load(path) if path.exists() else kubeconfig.empty_config()
    kubeconfig.set_cluster(cfg, CONTEXT, server, tokens["token"])
    kubeconfig.save(cfg, path)
    # The file belongs to whoever owns the directory (the user, not the container's root).
    st = kubeconfig_dir.stat()
    try:
        os.chown(path, st.st_uid, st.st_gid)
    except OSError:
        pass
    print(f"kubeconfig: context {CONTEXT} → {server} in {kubeconfig_file}", flush=True)


def rejoin(container: str) -> int:
    """(A node container, as it starts) Restart its proxy when that lives in an older network namespace.

    A proxy shares its node's network namespace (`network_mode: service:nodeN`).
    When the node container restarts (`docker restart`, or `docker stop` then
    `docker start` to simulate losing a node) it gets a new namespace; the
    proxy is left in the old, empty one (it exits when it notices) and Docker
    never starts it into the new one (moby/moby#50326). So the node, as it
    starts, restarts a proxy that started before it or has stopped. A proxy
    compose has only created (the first `up`) is left to compose.
    """
    import docker
    import docker.errors
    client = docker.from_env()
    try:
        proxy = client.containers.get(container)
        mode = str(proxy.attrs["HostConfig"].get("NetworkMode", ""))
        if not mode.startswith("container:") or proxy.status == "created":
            return 0
        node = client.containers.get(mode.split(":", 1)[1])
    except docker.errors.NotFound:
        return 0                            # the first start: compose creates the proxy after its node
    except docker.errors.DockerException as e:
        print(f"rejoin {container}: {e}", file=sys.stderr)
        return 0
    node_started = node.attrs["State"].get("StartedAt", "")
    proxy_started = proxy.attrs["State"].get("StartedAt", "")
    if proxy.status == "running" and proxy_started >= node_started:     # RFC 3339 strings sort by time
        return 0
    print(f"{container} started before this node (or stopped): restarting it into the node's network namespace",
          flush=True)
    try:
        proxy.restart(timeout=2)
    except docker.errors.DockerException as e:
        print(f"rejoin {container}: {e}", file=sys.stderr)
    return 0


def health(target: str, timeout: float = 3.0) -> int:
    """0 if the gRPC health service at host:port says SERVING (for healthchecks and scripts)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    with grpc.insecure_channel(target) as ch:
        try:
            resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError as e:
            print(f"{target}: {e.code().name}", file=sys.stderr)
            return 1
    return 0 if resp.status == health_pb2.HealthCheckResponse.SERVING else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.compose", description="the compose lab")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build images if needed, start the lab, wait until every node is Ready")
    p_up.add_argument("--nodes", type=int, default=None, help=f"default {COMPOSE_NODES}, {HA_NODES} with --ha")
    p_up.add_argument("--ha", action="store_true", help="highly available: compose.ha.yaml too")
    p_up.add_argument("--no-build", action="store_true", help="do not run images/build.py")
    p_up.add_argument("--timeout", type=float, default=180.0)
    p_up.add_argument("--api-port", type=int, default=int(os.environ.get("KUBELAB_API_PORT", API_PORT)))
    p_down = sub.add_parser("down", help="remove the lab and every pod container it made")
    p_down.add_argument("--keep-data", action="store_true",
                        help="keep etcd's data, tokens and certificates for the next `up`")
    p_bs = sub.add_parser("bootstrap", help="(compose service) write tokens and the kubeconfig")
    p_bs.add_argument("--secrets", default="/secrets")
    p_bs.add_argument("--etcd-pki", default="", help="where etcd's CA and certificates go (none: no etcd TLS)")
    p_bs.add_argument("--kubeconfig-dir", default="/host-kubeconfig")
    p_bs.add_argument("--kubeconfig-file", default=os.environ.get("KUBELAB_CONFIG_FILE") or "config")
    p_bs.add_argument("--nodes", type=int, default=int(os.environ.get("KUBELAB_NODES") or COMPOSE_NODES),
                      help="nodes to make a kubelet credential for")
    p_bs.add_argument("--server", default=os.environ.get("KUBELAB_HOST_SERVERS")
                      or f"127.0.0.1:{os.environ.get('KUBELAB_API_PORT') or API_PORT}",
                      help="the host CLI's apiserver address(es), comma-separated ($KUBELAB_HOST_SERVERS)")
    p_bs.add_argument("--credentials", default="", help="where each component's own volume is mounted "
                      "(a directory per identity's home); none: no per-component credentials")
    p_bs.add_argument("--cluster-servers", default=os.environ.get("KUBELAB_CLUSTER_SERVERS") or "apiserver:6443",
                      help="the apiservers' gRPC addresses inside the lab, for the nodes' kubelet.conf")
    p_bs.add_argument("--cluster-https", default=os.environ.get("KUBELAB_CLUSTER_HTTPS") or "https://apiserver:8443",
                      help="the HTTPS API's URL inside the lab, kubelet.conf's server")
    p_r = sub.add_parser("rejoin", help="(node containers) restart this node's proxy into its new network namespace")
    p_r.add_argument("container")
    p_h = sub.add_parser("health", help="gRPC health check of host:port")
    p_h.add_argument("target")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "up":
            up(nodes=args.nodes, build=not args.no_build, timeout=args.timeout, api_port=args.api_port, ha=args.ha)
        elif args.cmd == "down":
            down(keep_data=args.keep_data)
        elif args.cmd == "bootstrap":
            bootstrap(Path(args.secrets), Path(args.kubeconfig_dir), args.kubeconfig_file, args.server,
                      Path(args.etcd_pki) if args.etcd_pki else None, nodes=args.nodes,
                      credentials=Path(args.credentials) if args.credentials else None,
                      cluster_servers=args.cluster_servers, cluster_https=args.cluster_https)
        elif args.cmd == "rejoin":
            return rejoin(args.container)
        elif args.cmd == "health":
            return health(args.target)
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
