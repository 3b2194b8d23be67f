"""`kubelab apply`, `create` and `replace`: manifests and generators to objects.

Every manifest is read and checked (YAML, apiVersion/kind, unknown fields)
before the server is contacted, so a bad file changes nothing.

apply is kubectl's client-side apply, with the three-way merge done by the
server only: the CLI stores the manifest in the
`kubectl.kubernetes.io/last-applied-configuration` annotation (as kubectl
does) and sends it as an "apply" patch, with the resourceVersion it read as a
precondition; the server merges it with the live object and the previous
annotation, and writes nothing when that changes nothing. So the server's
answer says what happened: the resourceVersion read means the object was
already as declared (`unchanged`), a new one `configured` (no one else can
have written in between: that is a Conflict, and apply reads and tries
again), and a missing object is created (`created`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import click

from kubectl import printers
from kubectl.context import CLIError, Failed, api_error_line, err, global_options, out, run, settings, \
    stdout_write

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def filename_options(f: Any) -> Any:
    f = click.option("-R", "--recursive", is_flag=True, help="Process directories given with -f recursively.")(f)
    f = click.option("-f", "--filename", "filenames", multiple=True,
                     help="Files, directories or - (stdin) with the manifests (repeatable).")(f)
    return f


def dry_run_option(f: Any) -> Any:
    return click.option("--dry-run", "dry_run", default="none", is_flag=False, flag_value="client",
                        type=click.Choice(["none", "client", "server"]),
                        help="Only print what would be sent: client (no server) or server (validated).")(f)


def load_manifests(filenames: tuple[str, ...], recursive: bool) -> list[Any]:
    from kubelab import manifests
    if not filenames:
        raise CLIError("must specify one of -f and -k")
    try:
        return manifests.load(filenames, recursive=recursive)
    except manifests.ManifestError as e:
        raise CLIError(str(e)) from None
    except OSError as e:
        raise CLIError(f"{getattr(e, 'filename', '') or ''}: {e.strerror or e}") from None


def source_file(source: str) -> str:
    """`app.yaml (document 2)` -> `app.yaml`."""
    return re.sub(r" \(document \d+\)( item \d+)?$| item \d+$", "", source)


def place(obj: Any, namespace: str, explicit: bool) -> None:
    """Give a namespaced object the target namespace; refuse a contradicting -n."""
    from kubelab import kinds
    info = kinds.info_of(obj)
    if not info.namespaced:
        obj.metadata.namespace = ""
        return
    if obj.metadata.namespace and explicit and obj.metadata.namespace != namespace:
        raise CLIError(f'the namespace from the provided object "{obj.metadata.namespace}" does not match the '
                       f'namespace "{namespace}". You must pass \'--namespace={obj.metadata.namespace}\' to '
                       "perform this operation.")
    if not obj.metadata.namespace:
        obj.metadata.namespace = namespace


def load_placed(filenames: tuple[str, ...], recursive: bool) -> list[Any]:
    """The manifests, each namespaced object placed in the namespace the command runs in (`place`)."""
    docs = load_manifests(filenames, recursive)
    st = settings()
    namespace = st.current_namespace()
    for d in docs:
        place(d.obj, namespace, explicit=st.namespace is not None)
    return docs


def last_applied(obj: Any) -> str:
    """The annotation's value: the manifest as JSON without the annotation itself.

    Computed by the same function the server uses when it applies, so a
    re-apply of an unchanged manifest leaves the annotation byte-identical.
    """
    from kubelab.patch import last_applied_of
    return last_applied_of(printers.to_dict(obj))


def with_last_applied(obj: Any) -> Any:
    out_obj = type(obj)()
    out_obj.CopyFrom(obj)
    out_obj.metadata.annotations[LAST_APPLIED] = last_applied(obj)
    return out_obj


@dataclass
class Outcome:
    name: str           # deployment.apps/x
    verb: str           # created | configured | unchanged


def suffix(dry_run: str) -> str:
    return {"client": " (dry run)", "server": " (server dry run)"}.get(dry_run, "")


PATCH_RETRIES = 5      # kubectl's maxPatchRetry: another writer between our read and our patch


async def apply_one(client: Any, obj: Any, dry_run: str = "none") -> Outcome:
    """Create or three-way-merge one object; what happened, as kubectl reports it."""
    from kubelab.retry import retry_on_conflict
    # The manifest's own resourceVersion is the user's precondition: a Conflict then is the answer, not retried.
    steps = 1 if obj.metadata.resource_version else PATCH_RETRIES
    return await retry_on_conflict(lambda: _apply_once(client, obj, dry_run), steps=steps)


async def _apply_once(client: Any, obj: Any, dry_run: str) -> Outcome:
    from kubelab import errors, kinds
    info = kinds.info_of(obj)
    name = obj.metadata.name
    ns = obj.metadata.namespace or None
    desired = with_last_applied(obj)
    qualified = f"{info.qualified}/{name}"
    try:
        current = await client.get(info.kind, name, ns)
    except errors.NotFound:
        current = None
    if current is None:
        if dry_run != "client":
            try:
                await client.create(desired, dry_run=dry_run == "server")
            except errors.AlreadyExists:
                current = await client.get(info.kind, name, ns)
        if current is None:
            return Outcome(qualified, "created")
    if dry_run == "client":
        return Outcome(qualified, "configured")
    if not desired.metadata.resource_version:
        desired.metadata.resource_version = current.metadata.resource_version     # the precondition
    body = json.dumps(printers.to_dict(desired), separators=(",", ":"), ensure_ascii=False)
    try:
        result = await client.patch(info.kind, name, body, ns, patch_type="apply", dry_run=dry_run == "server")
    except errors.NotFound:
        desired.metadata.resource_version = ""          # deleted in between: created afresh
        await client.create(desired, dry_run=dry_run == "server")
        return Outcome(qualified, "created")
    # The server writes nothing for a no-op: the resourceVersion we read is its answer "unchanged".
    changed = result.metadata.resource_version != current.metadata.resource_version or dry_run == "server"
    if changed:
        # A write may change nothing a user can see (an empty `status: {}` gaining presence): compare content.
        changed = content(result) != content(current)
    return Outcome(qualified, "configured" if changed else "unchanged")


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def content(obj: Any) -> Any:
    """What an apply can change: the object without status, resourceVersion and empty members.

    Others (a kubelet, a controller) write status between our read and our
    patch; that is not this apply's doing, so it does not make it `configured`.
    """
    d = printers.to_dict(obj)
    d.pop("status", None)
    md = d.get("metadata", {})
    for k in ("resourceVersion", "managedFields"):
        md.pop(k, None)
    return _pruned(d)


def _apply_error(e: Exception, verb: str, source: str) -> str:
    from kubelab import errors
    if isinstance(e, errors.ApiError) and not isinstance(e, errors.Unavailable):
        return f'Error from server ({e.reason}): error when {verb} "{source_file(source)}": {e.message}'
    return api_error_line(e)


@click.command("apply")
@filename_options
@dry_run_option
@click.option("-o", "--output", type=click.Choice(["name"]), default=None, help="Output format: name.")
@global_options
def apply(filenames: tuple[str, ...], recursive: bool, dry_run: str, output: str | None) -> None:
    """Apply a configuration to a resource by file name or stdin.

    \b
    Examples:
      kubelab apply -f ./kubernetes/cowweb.yaml
      kubelab apply -f ./manifests/ -R
      cat pod.yaml | kubelab apply -f -
    """
    docs = load_manifests(filenames, recursive)
    st = settings()
    namespace = st.current_namespace()
    for d in docs:
        if not d.obj.metadata.name:
            if d.obj.metadata.generate_name:
                raise CLIError(f"from {source_file(d.source)}: cannot use generate name with apply")
            raise CLIError(f"error when retrieving current configuration of {source_file(d.source)}: "
                           "resource name may not be empty")
        place(d.obj, namespace, explicit=st.namespace is not None)

    async def body(client: Any) -> bool:
        from kubelab import errors
        failed = False
        for d in docs:
            try:
                outcome = await apply_one(client, d.obj, dry_run)
            except errors.ApiError as e:
                if isinstance(e, errors.Unavailable) and "connect" in e.message.lower():
                    raise
                err(_apply_error(e, "applying", d.source))
                failed = True
                continue
            out(outcome.name if output == "name" else f"{outcome.name} {outcome.verb}{suffix(dry_run)}")
        return failed

    if run(body):
        raise Failed(1)


# ---------------------------------------------------------------- create
class _CreateGroup(click.Group):
    """`create`'s generators, under kubectl's aliases too (`create ns`, `create deploy`)."""
    ALIASES = {"ns": "namespace", "deploy": "deployment"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.ALIASES.get(cmd_name, cmd_name))


@click.group("create", cls=_CreateGroup, invoke_without_command=True)
@filename_options
@dry_run_option
@click.option("--save-config", is_flag=True, help="Store the manifest in the last-applied annotation.")
@click.option("-o", "--output", default=None, help="Output format: name|yaml|json.")
@global_options
@click.pass_context
def create(ctx: click.Context, filenames: tuple[str, ...], recursive: bool, dry_run: str, save_config: bool,
           output: str | None) -> None:
    """Create resources from files or stdin, or with a generator (namespace, deployment).

    \b
    Examples:
      kubelab create -f pod.yaml
      kubelab create namespace handson
      kubelab create deployment web --image=nginx --replicas=3
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj_create = (dry_run, output)  # type: ignore[attr-defined]
        return
    docs = load_placed(filenames, recursive)
    objs = [(with_last_applied(d.obj) if save_config else d.obj, d.source) for d in docs]
    if run(lambda client: _create_all(client, objs, dry_run, output)):
        raise Failed(1)


async def _create_all(client: Any, objs: list[tuple[Any, str]], dry_run: str, output: str | None) -> bool:
    from kubelab import errors
    failed = False
    fmt = printers.parse_output(output) if output else None
    for obj, source in objs:
        try:
            created = obj if dry_run == "client" else await client.create(obj, dry_run=dry_run == "server")
        except errors.ApiError as e:
            if isinstance(e, errors.Unavailable) and "connect" in e.message.lower():
                raise
            err(_apply_error(e, "creating", source) if source else api_error_line(e))
            failed = True
            continue
        if fmt is not None and not fmt.is_table:
            stdout_write(printers.render([created], fmt, single=True))
        else:
            out(f"{printers.qualified_name(created)} created{suffix(dry_run)}")
    return failed


def _create_generated(obj: Any) -> None:
    ctx = click.get_current_context()
    dry_run, output = getattr(ctx.parent, "obj_create", ("none", None)) if ctx.parent else ("none", None)
    sub_dry = ctx.params.get("dry_run")
    sub_out = ctx.params.get("output")
    dry_run = sub_dry if sub_dry not in (None, "none") else dry_run
    output = sub_out or output
    if run(lambda client: _create_all(client, [(obj, "")], dry_run, output)) if dry_run != "client" \
            else _print_local(obj, output):
        raise Failed(1)


def _print_local(obj: Any, output: str | None) -> bool:
    fmt = printers.parse_output(output) if output else None
    if fmt is not None and not fmt.is_table:
        stdout_write(printers.render([obj], fmt, single=True))
    else:
        out(f"{printers.qualified_name(obj)} created (dry run)")
    return False


def build(data: dict[str, Any]) -> Any:
    from kubelab import manifests
    try:
        return manifests.from_dict(data, "<generated>")
    except manifests.ManifestError as e:
        raise CLIError(str(e).replace("<generated>: ", "")) from None


def validate_name(name: str, what: str = "name") -> None:
    from kubelab import selectors
    msg = selectors.validate_dns1123_subdomain(name)
    if msg:
        raise CLIError(f'invalid {what} "{name}": {msg}')


@create.command("namespace")
@click.argument("name")
@dry_run_option
@click.option("-o", "--output", default=None)
@global_options
def create_namespace(name: str, dry_run: str, output: str | None) -> None:
    """Create a namespace with the given name."""
    _create_generated(build({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))


def container_name(image: str) -> str:
    """kubectl's container name for an image: `registry/team/nginx:1.16` -> `nginx`."""
    name = image.split("/")[-1]
    name = name.split("@")[0].split(":")[0]
    return re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-") or "container"


@create.command("deployment")
@click.argument("name")
@click.option("--image", "images", multiple=True, required=True, help="Image name(s) to run.")
@click.option("-r", "--replicas", type=int, default=1, show_default=True)
@click.option("--port", type=int, default=None, help="The containerPort this deployment exposes.")
@dry_run_option
@click.option("-o", "--output", default=None)
@global_options
def create_deployment(name: str, images: tuple[str, ...], replicas: int, port: int | None, dry_run: str,
                      output: str | None) -> None:
    """Create a deployment with the specified name."""
    containers: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for img in images:
        cname = container_name(img)
        if cname in seen:
            seen[cname] += 1
            cname = f"{cname}-{seen[cname]}"
        else:
            seen[cname] = 0
        containers.append({"name": cname, "image": img, "resources": {}})     # as kubectl sends it
    if port is not None:
        containers[0]["ports"] = [{"containerPort": port}]
    labels = {"app": name}
    ns = settings().current_namespace()
    obj = build({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}}},
    })
    _create_generated(obj)


# ---------------------------------------------------------------- replace
@click.command("replace")
@filename_options
@global_options
def replace(filenames: tuple[str, ...], recursive: bool) -> None:
    """Replace resources by file name or stdin (the whole object is written)."""
    docs = load_placed(filenames, recursive)

    async def body(client: Any) -> bool:
        from kubelab import errors, kinds
        failed = False
        for d in docs:
            obj = d.obj
            info = kinds.info_of(obj)
            try:
                if not obj.metadata.resource_version:
                    cur = await client.get(info.kind, obj.metadata.name, obj.metadata.namespace or None)
                    obj.metadata.resource_version = cur.metadata.resource_version
                new = await client.update(obj)
            except errors.ApiError as e:
                err(_apply_error(e, "replacing", d.source))
                failed = True
                continue
            out(f"{printers.qualified_name(new)} replaced")
        return failed

    if run(body):
        raise Failed(1)
