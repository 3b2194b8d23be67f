"""`kubelab config ...`: read and edit the kubeconfig (no server needed)."""
from __future__ import annotations

import copy
from typing import Any

import click

from kubectl import printers, tabwriter
from kubectl.context import _GLOBAL_OPTIONS, CLIError, global_options, out, settings, stdout_write

kubeconfig_option = _GLOBAL_OPTIONS[2]


def _named(items: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((i for i in items if i.get("name") == name), None)


@click.group("config")
@global_options
def config() -> None:
    """Modify kubeconfig files (contexts, namespaces)."""


@config.command("current-context")
@global_options
def current_context() -> None:
    """Display the current context."""
    cfg = settings().load_config()
    name = cfg.get("current-context") or ""
    if not name:
        raise CLIError("current-context is not set")
    out(name)


@config.command("use-context")
@click.argument("name")
@global_options
def use_context(name: str) -> None:
    """Set the current context."""
    st = settings()
    cfg = st.load_config()
    if _named(cfg.get("contexts") or [], name) is None:
        raise CLIError(f'no context exists with the name: "{name}"')
    cfg["current-context"] = name
    st.save_config(cfg)
    out(f'Switched to context "{name}".')


@config.command("get-contexts")
@click.argument("name", required=False)
@click.option("--no-headers", is_flag=True)
@click.option("-o", "--output", type=click.Choice(["name"]), default=None)
@global_options
def get_contexts(name: str | None, no_headers: bool, output: str | None) -> None:
    """Describe one or many contexts."""
    cfg = settings().load_config()
    contexts = cfg.get("contexts") or []
    if name:
        contexts = [c for c in contexts if c.get("name") == name]
        if not contexts:
            raise CLIError(f'context {name} not found')
    if output == "name":
        for c in contexts:
            out(c.get("name", ""))
        return
    current = cfg.get("current-context") or ""
    rows = [] if no_headers else [["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"]]
    for c in contexts:
        ctx = c.get("context") or {}
        rows.append(["*" if c.get("name") == current else "", c.get("name", ""), ctx.get("cluster", ""),
                     ctx.get("user", ""), ctx.get("namespace", "")])
    stdout_write(tabwriter.table(rows))


@config.command("get-clusters")
@global_options
def get_clusters() -> None:
    """Display clusters defined in the kubeconfig."""
    cfg = settings().load_config()
    out("NAME")
    for c in cfg.get("clusters") or []:
        out(c.get("name", ""))


@config.command("set-context")
@click.argument("name", required=False)
@click.option("--current", is_flag=True, help="Modify the current context.")
@click.option("--cluster", "cluster_name", default=None)
@click.option("--user", default=None)
@click.option("--namespace", "ns", default=None, help="The namespace for the context.")
@click.option("-n", "ns_short", default=None, hidden=True)
@kubeconfig_option
def set_context(name: str | None, current: bool, cluster_name: str | None, user: str | None,
                ns: str | None, ns_short: str | None) -> None:
    """Set a context entry: `set-context NAME --namespace=X` or `set-context --current --namespace=X`."""
    st = settings()
    cfg = st.load_config()
    if current and name:
        raise CLIError("you cannot specify both a context name and --current")
    if current or not name:
        name = cfg.get("current-context") or ""
        if not name:
            raise CLIError("no current context is set")
    contexts = cfg.setdefault("contexts", [])
    entry = _named(contexts, name)
    created = entry is None
    if entry is None:
        entry = {"name": name, "context": {}}
        contexts.append(entry)
    ctx = entry.setdefault("context", {})
    namespace = ns if ns is not None else ns_short
    if namespace is not None:
        ctx["namespace"] = namespace
    if cluster_name is not None:
        ctx["cluster"] = cluster_name
    if user is not None:
        ctx["user"] = user
    st.save_config(cfg)
    out(f'Context "{name}" {"created" if created else "modified"}.')


@config.command("delete-context")
@click.argument("name")
@global_options
def delete_context(name: str) -> None:
    """Delete the specified context from the kubeconfig."""
    st = settings()
    cfg = st.load_config()
    contexts = cfg.get("contexts") or []
    if _named(contexts, name) is None:
        raise CLIError(f"cannot delete context {name}, not in {st.config_path or 'the kubeconfig'}")
    cfg["contexts"] = [c for c in contexts if c.get("name") != name]
    if cfg.get("current-context") == name:
        click.echo(f"warning: this removed your active context, use \"kubelab config use-context\" "
                   "to select a different one", err=True)
    st.save_config(cfg)
    out(f"deleted context {name} from {st.config_path or _default_path()}")


def _default_path() -> str:
    from kubelab import config as kconfig
    return str(kconfig.config_path())


@config.command("set-cluster")
@click.argument("name")
@click.option("--server", "server_addr", required=True, help="host:port of the API server.")
@click.option("--token", "token_value", default=None, help="Bearer token.")
@kubeconfig_option
def set_cluster(name: str, server_addr: str, token_value: str | None) -> None:
    """Set a cluster entry (and its user and context of the same name)."""
    from kubelab import config as kconfig
    st = settings()
    cfg = st.load_config()
    existing_token = ""
    user = _named(cfg.get("users") or [], name)
    if user is not None:
        existing_token = (user.get("user") or {}).get("token", "")
    kconfig.set_cluster(cfg, name, server_addr, token_value or existing_token,
                        make_current=not cfg.get("current-context"))
    st.save_config(cfg)
    out(f'Cluster "{name}" set.')


def redact(cfg: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(cfg)
    for u in data.get("users") or []:
        user = u.get("user") or {}
        for key in ("token", "password", "client-key-data"):
            if user.get(key):
                user[key] = "REDACTED"
    return data


def minify(cfg: dict[str, Any]) -> dict[str, Any]:
    name = cfg.get("current-context") or ""
    ctx = _named(cfg.get("contexts") or [], name)
    if ctx is None:
        raise CLIError("current-context must exist in order to minify")
    c = ctx.get("context") or {}
    data = dict(cfg)
    data["contexts"] = [ctx]
    data["clusters"] = [x for x in cfg.get("clusters") or [] if x.get("name") == c.get("cluster")]
    data["users"] = [x for x in cfg.get("users") or [] if x.get("name") == c.get("user")]
    return data


# What kubectl's `config view` prints with: the kubeconfig is one document, so no table, names or columns.
VIEW_FORMATS = ("yaml", "json", "jsonpath", "jsonpath-as-json", "go-template")


def view_format(output: str, template: str | None) -> printers.OutputFormat:
    fmt = printers.parse_output(output, template)
    if fmt.kind not in VIEW_FORMATS:
        raise CLIError(f'unable to match a printer suitable for the output format "{output}", allowed formats '
                       "are: go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,template,"
                       "templatefile,yaml")
    return fmt


@config.command("view")
@click.option("--raw", is_flag=True, help="Display raw values (tokens) too.")
@click.option("--minify", "do_minify", is_flag=True, help="Only the current context's information.")
@click.option("-o", "--output", default="yaml", show_default=True,
              help="yaml, json, jsonpath=TEMPLATE, go-template=TEMPLATE (or their -file forms).")
@click.option("--template", default=None, help="The template of -o go-template or -o jsonpath.")
@global_options
def view(raw: bool, do_minify: bool, output: str, template: str | None) -> None:
    """Display the kubeconfig (tokens REDACTED unless --raw).

    \b
      kubelab config view --minify
      kubelab config view -o jsonpath='{..namespace}'
      kubelab config view -o jsonpath='{.users[0].user.token}' --raw
    """
    fmt = view_format(output, template)      # before reading anything: a bad -o is the user's first error
    cfg = settings().load_config()
    data = minify(cfg) if do_minify else cfg
    data = data if raw else redact(data)
    ordered = {k: data[k] for k in ("apiVersion", "kind", "clusters", "contexts", "current-context", "users")
               if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    stdout_write(printers.render_data(ordered, fmt))
