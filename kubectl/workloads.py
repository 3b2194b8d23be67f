"""Workload verbs: scale, set image, run, expose."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import click

from kubectl import printers, resources, timefmt
from kubectl.apply import build, dry_run_option, validate_name
from kubectl.context import CLIError, Failed, err, global_options, out, run, run_each, settings, stdout_write

SCALABLE = ("Deployment", "ReplicaSet")


def named_targets(args: tuple[str, ...]) -> list[tuple[Any, str]]:
    req = resources.parse(args)
    return [(t.info, n) for t in req.targets for n in t.names]


async def update_with_retry(client: Any, kind: str, name: str, ns: str | None,
                            mutate: Callable[[Any], Awaitable[None] | None], attempts: int = 5) -> Any:
    """get -> mutate -> update, again on Conflict (someone else wrote in between)."""
    from kubelab.retry import retry_on_conflict

    async def attempt() -> Any:
        obj = await client.get(kind, name, ns)
        result = mutate(obj)
        if asyncio.iscoroutine(result):
            await result
        return await client.update(obj)
    return await retry_on_conflict(attempt, steps=attempts)


# ---------------------------------------------------------------- scale
@click.command("scale")
@click.argument("args", nargs=-1, required=True)
@click.option("--replicas", type=int, required=True, help="The new desired number of replicas.")
@click.option("--current-replicas", type=int, default=-1,
              help="Precondition: only scale if the current number of replicas is this.")
@click.option("-l", "--selector", default="")
@click.option("--all", "all_", is_flag=True)
@global_options
def scale(args: tuple[str, ...], replicas: int, current_replicas: int, selector: str, all_: bool) -> None:
    """Set a new size for a deployment or replica set.

    \b
    Examples:
      kubelab scale deployments/cowweb --replicas=4
      kubelab scale rs nginx-replicaset --replicas=3
    """
    if replicas < 0:
        raise CLIError("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    namespace = settings().current_namespace()
    named, listed = resources.select((), args, selector, all_, namespace, False)
    for info in [info for info, _name, _ns in named] + listed:
        if info.kind not in SCALABLE:
            raise CLIError(f"cannot scale {info.plural}: only deployments and replicasets can be scaled")

    async def act(client: Any, target: tuple[Any, str]) -> bool:
        info, name = target
        if current_replicas >= 0:
            cur = await client.get(info.kind, name, namespace)
            if printers.replicas_of(cur.spec) != current_replicas:
                err(f"error: Expected replicas to be {current_replicas}, was {printers.replicas_of(cur.spec)}")
                return True
        await client.patch(info.kind, name, {"spec": {"replicas": replicas}}, namespace, patch_type="merge")
        out(f"{info.qualified}/{name} scaled")
        return False

    run_each(lambda client: resources.names_of(client, named, listed, namespace, selector), act)


# ---------------------------------------------------------------- set image
@click.group("set")
@global_options
def set_cmd() -> None:
    """Set specific features on objects (image)."""


def _template_spec(obj: Any) -> Any:
    from kubelab import kinds
    kind = kinds.info_of(obj).kind
    if kind == "Pod":
        return obj.spec
    if kind in ("Deployment", "ReplicaSet"):
        return obj.spec.template.spec
    raise CLIError(f"cannot set the image of {kinds.info_of(obj).plural}")


@set_cmd.command("image")
@click.argument("args", nargs=-1, required=True)
@click.option("-l", "--selector", default="")
@click.option("--all", "all_", is_flag=True)
@global_options
def set_image(args: tuple[str, ...], selector: str, all_: bool) -> None:
    """Update the image of containers: `set image deployment/x container=image`.

    \b
    Examples:
      kubelab set image deployments/kubernetes-bootcamp kubernetes-bootcamp=hello:v2
      kubelab set image deployment/web *=nginx:1.16
    """
    res_args = [a for a in args if "=" not in a]
    pairs = [a for a in args if "=" in a]
    if not pairs:
        raise CLIError("at least one image update is required")
    images: dict[str, str] = {}
    for p in pairs:
        c, _, img = p.partition("=")
        if not c or not img:
            raise CLIError(f"invalid image update {p!r}: expected container=image")
        images[c] = img
    namespace = settings().current_namespace()
    named, listed = resources.select((), res_args, selector, all_, namespace, False)

    def mutate(obj: Any) -> None:
        spec = _template_spec(obj)
        matched = set()
        for c in list(spec.init_containers) + list(spec.containers):
            img = images.get(c.name, images.get("*"))
            if img is not None:
                matched.add(c.name)
                c.image = img
        for cname in images:
            if cname != "*" and cname not in matched:
                raise CLIError(f'unable to find container named "{cname}"')

    async def act(client: Any, target: tuple[Any, str]) -> bool:
        info, name = target
        await update_with_retry(client, info.kind, name, namespace, mutate)
        out(f"{info.qualified}/{name} image updated")
        return False

    run_each(lambda client: resources.names_of(client, named, listed, namespace, selector), act)


# ---------------------------------------------------------------- run
def parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        k, sep, v = part.partition("=")
        if not sep or not k:
            raise CLIError(f"invalid label spec: {part}")
        labels[k] = v
    return labels


def parse_env(items: tuple[str, ...]) -> list[dict[str, str]]:
    env = []
    for e in items:
        k, sep, v = e.partition("=")
        if not sep or not k:
            raise CLIError(f"invalid env: {e}")
        env.append({"name": k, "value": v})
    return env


# kubectl's generators before 1.18 (when `run` stopped making anything but Pods).
_RUN_GENERATORS = {"run-pod/v1": "Pod", "deployment/apps.v1": "Deployment", "deployment/v1beta1": "Deployment",
                   "deployment/apps.v1beta1": "Deployment"}


@click.command("run", context_settings={"allow_interspersed_args": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--image", required=True, help="The image for the container to run.")
@click.option("--port", type=int, default=None, help="The port the container exposes.")
@click.option("--replicas", type=int, default=None,
              help="Run as a Deployment with this many replicas (kubectl before 1.18); default: one Pod.")
@click.option("--labels", "-l", "labels_text", default="", help="Labels a=b,c=d (default run=NAME).")
@click.option("--env", multiple=True, help="Environment variables NAME=value (repeatable).")
@click.option("--restart", type=click.Choice(["Always", "OnFailure", "Never"]), default="Always")
@click.option("--command", "use_command", is_flag=True, help="Use the extra arguments as the command, not args.")
@click.option("--image-pull-policy", default="", type=click.Choice(["", "Always", "IfNotPresent", "Never"]))
@click.option("--expose", is_flag=True, help="Also create a ClusterIP service (needs --port).")
@click.option("--annotations", multiple=True, help="Annotations k=v (repeatable).")
@click.option("--generator", default="", type=click.Choice(["", *_RUN_GENERATORS]),
              help="What to create, as kubectl before 1.18 took it: deployment/apps.v1 (a Deployment, which "
                   "older tutorials expect from `run`) or run-pod/v1 (a Pod, the default).")
@click.option("-i", "--stdin", "stdin", is_flag=True,
              help="Keep stdin open on the container and attach to it (with --rm: a throwaway pod).")
@click.option("-t", "--tty", "tty", is_flag=True, help="Allocate a TTY for the container (needs -i).")
@click.option("--attach/--no-attach", "attach_flag", default=None,
              help="Wait for the pod to start, then attach to it (default: with -i).")
@click.option("--rm", "remove", is_flag=True, help="Delete the pod once the attached session ends.")
@click.option("--pod-running-timeout", default="1m0s", show_default=True,
              help="How long to wait for the pod to run before attaching.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the attached session's output.")
@dry_run_option
@click.option("-o", "--output", default=None)
@global_options
def run_cmd(name: str, args: tuple[str, ...], image: str, port: int | None, replicas: int | None,
            labels_text: str, env: tuple[str, ...], restart: str, use_command: bool, image_pull_policy: str,
            expose: bool, annotations: tuple[str, ...], generator: str, stdin: bool, tty: bool,
            attach_flag: bool | None, remove: bool, pod_running_timeout: str, quiet: bool, dry_run: str,
            output: str | None) -> None:
    """Create and run a particular image in a pod.

    \b
    Examples:
      kubelab run nginx --image=nginx --port=80
      kubelab run hazelcast --image=hazelcast --env="DNS_DOMAIN=cluster" --labels="app=hazelcast,env=prod"
      kubelab run pi --image=perl --restart=OnFailure -- perl -Mbignum=bpi -wle 'print bpi(2000)'
      kubelab run box --image=busybox --command -- sleep 3600
      kubelab run kubernetes-bootcamp --image=kubelab/hello:v1 --port=8080 --generator=deployment/apps.v1
      kubelab run -i -t --rm debug --image=kubelab/busybox --restart=Never -- sh
    """
    validate_name(name)
    attach = stdin if attach_flag is None else attach_flag
    if tty and not stdin:
        raise CLIError("-i/--stdin is required for containers with -t/--tty=true")
    if remove and not attach:
        raise CLIError("--rm should only be used for attached containers")
    if attach and dry_run in ("client", "server"):
        raise CLIError("--dry-run can't be used with attached containers options (--attach, --stdin, or --tty)")
    try:
        running_timeout = timefmt.parse_duration(pod_running_timeout)
    except ValueError as e:
        raise CLIError(f'invalid argument "{pod_running_timeout}" for "--pod-running-timeout" flag: {e}') from None
    labels = parse_labels(labels_text) if labels_text else {"run": name}
    container: dict[str, Any] = {"name": name, "image": image}
    if args:
        container["command" if use_command else "args"] = list(args)
    if port is not None:
        container["ports"] = [{"containerPort": port}]
    if env:
        container["env"] = parse_env(env)
    if image_pull_policy:
        container["imagePullPolicy"] = image_pull_policy
    if stdin:       # as kubectl run: stdin once, closed when the attached session leaves
        container.update({"stdin": True, "stdinOnce": attach})
    if tty:
        container["tty"] = True
    ns = settings().current_namespace()
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels}
    if annotations:
        meta["annotations"] = dict(a.partition("=")[::2] for a in annotations)
    as_deployment = _RUN_GENERATORS.get(generator) == "Deployment" or (replicas is not None and not generator)
    if as_deployment:
        if attach:
            raise CLIError("-i/--stdin, --attach and --rm run a pod: they cannot be used with --replicas or "
                           "a Deployment generator")
        if restart != "Always":
            raise CLIError(f"invalid restart policy for a Deployment: {restart} (only Always is allowed)")
        obj = build({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                     "spec": {"replicas": 1 if replicas is None else replicas, "selector": {"matchLabels": labels},
                              "template": {"metadata": {"labels": labels},
                                           "spec": {"containers": [container]}}}})
    else:
        obj = build({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                     "spec": {"containers": [container], "restartPolicy": restart}})
    svc = None
    if expose:
        if port is None:
            raise CLIError("--port must be set when exposing a service")
        svc = build({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                     "spec": {"ports": [{"port": port, "targetPort": port}], "selector": labels}})
    fmt = printers.parse_output(output) if output else None
    objs = [o for o in (svc, obj) if o is not None]
    if dry_run == "client":
        for o in objs:
            if fmt is not None and not fmt.is_table:
                stdout_write(printers.render([o], fmt, single=True))
            else:
                out(f"{printers.qualified_name(o)} created (dry run)")
        return

    async def body(client: Any) -> int:
        for o in objs:
            created = await client.create(o, dry_run=dry_run == "server")
            if attach and o is obj:
                continue        # kubectl says nothing of the pod it attaches to
            if fmt is not None and not fmt.is_table:
                stdout_write(printers.render([created], fmt, single=True))
            else:
                out(f"{printers.qualified_name(created)} created" + (" (server dry run)" if dry_run == "server"
                                                                     else ""))
        if not attach:
            return 0
        try:
            return await _run_attached(client, ns, name, stdin, tty, quiet, restart, running_timeout)
        finally:
            if remove:
                await client.delete("Pod", name, ns)
                out(f'pod "{name}" deleted from {ns} namespace')    # the delete printer's words (kubectl 1.34+)
    code = run(body)
    if code:
        raise Failed(code)


async def _run_attached(client: Any, namespace: str, name: str, stdin: bool, tty: bool, quiet: bool, restart: str,
                        running_timeout: float) -> int:
    """`run -i`/`--attach`, as kubectl does it: wait for the pod to run, attach (or print the logs of one that
    already finished), then, unless it restarts forever, wait for it to end and exit with its container's code."""
    from kubectl.attach import attach_session
    from kubectl.logs import print_logs
    from kubelab import errors
    pod = await _wait_pod(client, namespace, name, running_timeout, ("Running", "Succeeded", "Failed"))
    attached = False
    if pod.status.phase == "Running":
        try:
            await attach_session(client, pod, name, stdin, tty, quiet)
            attached = True
        except (CLIError, errors.ApiError) as e:
            # The container may end between our look at the pod and the attach (its status not yet written):
            # kubectl's run warns and falls back to the logs, and its exit code still comes from the pod.
            err(f"warning: couldn't attach to pod/{name}, falling back to streaming logs: {e}")
    if not attached:                       # ended before (or while) we attached: what it wrote, from its logs
        await print_logs(client, namespace, name, name)
    if restart == "Always":
        return 0
    pod = await _wait_pod(client, namespace, name, 60.0, ("Succeeded", "Failed"))
    if pod.status.phase == "Succeeded":
        return 0
    term = next((s.state.terminated for s in pod.status.container_statuses if s.state.HasField("terminated")), None)
    if term is None or term.exit_code == 0:
        err(f"error: pod {namespace}/{name} failed with unknown exit code")
        return 1
    err(f"pod {namespace}/{name} terminated ({term.reason})" + (f"\n{term.message}" if term.message else ""))
    return int(term.exit_code)


async def _wait_pod(client: Any, namespace: str, name: str, timeout: float, phases: tuple[str, ...]) -> Any:
    """The pod once its phase is one of `phases`; kubectl's timeout error after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        pod = await client.get("Pod", name, namespace)
        if pod.status.phase in phases:
            return pod
        if loop.time() >= deadline:
            raise CLIError("timed out waiting for the condition")
        await asyncio.sleep(0.2)


run_command = run_cmd   # `run` is the async runner in this module; the verb is registered as run_command


# ---------------------------------------------------------------- expose
def _ports_of(obj: Any) -> list[dict[str, Any]]:
    from kubelab import kinds
    kind = kinds.info_of(obj).kind
    if kind == "Service":
        return [{"port": p.port, "protocol": p.protocol or "TCP", "name": p.name,
                 "targetPort": printers.int_or_string(p.target_port) if p.HasField("target_port") else p.port}
                for p in obj.spec.ports]
    spec = obj.spec if kind == "Pod" else obj.spec.template.spec
    return [{"port": p.container_port, "protocol": p.protocol or "TCP", "name": p.name}
            for c in spec.containers for p in c.ports]


def _selector_of(obj: Any) -> dict[str, str]:
    """The new Service's selector, a label map (kubectl's MapBasedSelectorForObject)."""
    from kubelab import kinds, selectors
    info = kinds.info_of(obj)
    if info.kind == "Pod":
        if not obj.metadata.labels:
            raise CLIError(f"the pod has no labels and cannot be exposed")
        return dict(obj.metadata.labels)
    if info.kind not in ("Service", "Deployment", "ReplicaSet"):
        raise CLIError(f"cannot expose a {info.kind}")
    labels = selectors.selector_of(obj).as_labels()
    if labels is None:
        raise CLIError(f"couldn't convert expressions - \"{printers.format_selector(obj.spec.selector)}\" to "
                       "map: the selector uses matchExpressions")
    if info.kind == "Service" and not labels:
        raise CLIError("the service has no pod selector set")
    return labels


def _port_value(text: str) -> int | str:
    return int(text) if text.isdigit() else text


@click.command("expose")
@click.argument("args", nargs=-1, required=True)
@click.option("--port", default=None, help="The port the service serves on.")
@click.option("--target-port", default=None, help="The container port (number or name) traffic goes to.")
@click.option("--type", "svc_type", default="ClusterIP",
              type=click.Choice(["ClusterIP", "NodePort", "LoadBalancer"], case_sensitive=False))
@click.option("--name", "svc_name", default=None, help="The name of the service (default: the object's).")
@click.option("--protocol", default=None, type=click.Choice(["TCP", "UDP", "SCTP"], case_sensitive=False))
@click.option("--selector", "selector_text", default=None, help="Pod selector a=b (default: the object's).")
@click.option("--labels", "-l", "labels_text", default=None, help="Labels of the service (default: the object's).")
@click.option("--external-ip", default=None)
@click.option("--session-affinity", default=None, type=click.Choice(["None", "ClientIP"]))
@dry_run_option
@click.option("-o", "--output", default=None)
@global_options
def expose(args: tuple[str, ...], port: str | None, target_port: str | None, svc_type: str, svc_name: str | None,
           protocol: str | None, selector_text: str | None, labels_text: str | None, external_ip: str | None,
           session_affinity: str | None, dry_run: str, output: str | None) -> None:
    """Expose a deployment, replica set, pod or service as a new Service.

    \b
    Examples:
      kubelab expose deployment/kubernetes-bootcamp --type=NodePort --port 8080
      kubelab expose rs nginx --port=80 --target-port=8000
    """
    items = named_targets(args)
    if len(items) != 1:
        raise CLIError("exactly one object must be given to expose")
    info, name = items[0]
    if info.kind not in ("Deployment", "ReplicaSet", "Pod", "Service"):
        raise CLIError(f"cannot expose a {info.kind}")
    svc_type = {"clusterip": "ClusterIP", "nodeport": "NodePort", "loadbalancer": "LoadBalancer"}[svc_type.lower()]
    namespace = settings().current_namespace()
    fmt = printers.parse_output(output) if output else None

    async def body(client: Any) -> None:
        obj = await client.get(info.kind, name, namespace)
        selector = parse_labels(selector_text) if selector_text else _selector_of(obj)
        labels = parse_labels(labels_text) if labels_text else dict(obj.metadata.labels)
        if port is not None:
            ports: list[dict[str, Any]] = [{"port": int(port) if port.isdigit() else _bad_port(port)}]
            if protocol:
                ports[0]["protocol"] = protocol.upper()
            ports[0]["targetPort"] = _port_value(target_port) if target_port else ports[0]["port"]
        else:
            found = _ports_of(obj)
            if not found:
                raise CLIError(f"couldn't find port via --port flag or introspection")
            ports = []
            for i, p in enumerate(found, start=1):
                entry: dict[str, Any] = {"port": p["port"], "protocol": (protocol or p["protocol"]).upper(),
                                         "targetPort": _port_value(target_port) if target_port else
                                         p.get("targetPort", p["port"])}
                if len(found) > 1:
                    entry["name"] = f"port-{i}"
                ports.append(entry)
        spec: dict[str, Any] = {"ports": ports, "selector": selector, "type": svc_type}
        if external_ip:
            spec["externalIPs"] = [external_ip]
        if session_affinity:
            spec["sessionAffinity"] = session_affinity
        meta: dict[str, Any] = {"name": svc_name or name, "namespace": namespace}
        if labels:
            meta["labels"] = labels
        svc = build({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec})
        created = svc if dry_run == "client" else await client.create(svc, dry_run=dry_run == "server")
        if fmt is not None and not fmt.is_table:
            stdout_write(printers.render([created], fmt, single=True))
        else:
            out(f"service/{created.metadata.name} exposed" + {"client": " (dry run)",
                                                              "server": " (server dry run)"}.get(dry_run, ""))

    run(body)


def _bad_port(text: str) -> int:
    raise CLIError(f'invalid argument "{text}" for "--port" flag: not a number')
