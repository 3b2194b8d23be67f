"""`kubelab wait --for=condition=Ready|--for=delete|--for=jsonpath=... TYPE/NAME`."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import click

from kubectl import printers, resources
from kubectl.context import CLIError, Failed, api_error_line, err, global_options, out, run, settings
from kubectl.timefmt import parse_duration


@dataclass
class Condition:
    kind: str            # "delete" | "condition" | "jsonpath" | "create"
    name: str = ""       # condition type, or the jsonpath template
    value: str = "true"  # wanted condition status / jsonpath value


def parse_for(text: str) -> Condition:
    t = text.strip()
    if t.lower() == "delete":
        return Condition("delete")
    if t.lower() == "create":
        return Condition("create")
    if t.lower().startswith("condition="):
        rest = t[len("condition="):]
        name, sep, value = rest.partition("=")
        if not name:
            raise CLIError(f"unrecognized condition: {text!r}")
        return Condition("condition", name, value if sep else "true")
    if t.lower().startswith("jsonpath="):
        rest = t[len("jsonpath="):]
        depth, split = 0, -1
        for i, ch in enumerate(rest):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "=" and depth == 0:
                split = i
        if split < 0:
            return Condition("jsonpath", _compiled(rest.strip("'\"")), "")
        expr, value = rest[:split].strip("'\""), rest[split + 1:].strip("'\"")
        if not expr.startswith("{"):
            expr = "{" + expr + "}"
        return Condition("jsonpath", _compiled(expr), value)
    raise CLIError(f"unrecognized condition: {text!r} (use --for=delete, --for=condition=NAME[=VALUE] "
                   "or --for=jsonpath={.path}=VALUE)")


def _compiled(expr: str) -> str:
    """`expr`, once it parses: one that does not would never be met, and wait would block to the timeout."""
    from kubectl.output import jsonpath
    try:
        jsonpath.check_jsonpath(expr)
    except jsonpath.JSONPathError as e:
        raise CLIError(f"error parsing jsonpath {expr}, {e}") from None
    return expr


def condition_met(obj: Any, cond: Condition) -> bool:
    if cond.kind == "create":
        return True
    if cond.kind == "condition":
        status = getattr(obj, "status", None)
        for c in getattr(status, "conditions", []) if status is not None else []:
            if c.type.lower() == cond.name.lower():
                return c.status.lower() == cond.value.lower()
        return False
    if cond.kind == "jsonpath":
        from kubectl.output import jsonpath
        # A path that does not resolve (yet) renders as "": not met. parse_for made sure it parses.
        got = jsonpath.jsonpath(cond.name, printers.to_dict(obj))
        return got == cond.value if cond.value else bool(got)
    return False


@click.command("wait")
@click.argument("args", nargs=-1)
@click.option("--for", "for_", required=True,
              help="delete | condition=NAME[=VALUE] | jsonpath={.path}=VALUE | create")
@click.option("--timeout", default="30s", show_default=True, help="Give up after this long (e.g. 60s, 5m).")
@click.option("-l", "--selector", default="")
@click.option("--all", "all_", is_flag=True)
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("-f", "--filename", "filenames", multiple=True)
@global_options
def wait(args: tuple[str, ...], for_: str, timeout: str, selector: str, all_: bool, all_namespaces: bool,
         filenames: tuple[str, ...]) -> None:
    """Wait for a condition on one or many resources.

    \b
    Examples:
      kubelab wait --for=condition=Ready pod/busybox1
      kubelab wait --for=condition=Available deployment/web --timeout=2m
      kubelab wait --for=delete pod/busybox1 --timeout=60s
      kubelab wait --for=jsonpath='{.status.phase}'=Running pod/busybox1
    """
    cond = parse_for(for_)
    try:
        timeout_s = parse_duration(timeout)
    except ValueError as e:
        raise CLIError(str(e)) from None
    st = settings()
    namespace = st.current_namespace()
    named, listed = resources.select(filenames, args, selector, all_, namespace, st.namespace is not None)

    async def body(client: Any) -> bool:
        from kubelab import errors
        deadline = time.monotonic() + timeout_s
        items = list(named)
        for info in listed:
            list_ns = "" if all_namespaces else (namespace if info.namespaced else None)
            objs, _ = await client.list(info.kind, list_ns, label_selector=selector)
            items += [(info, o.metadata.name, o.metadata.namespace or None) for o in objs]
            if not objs:
                err("error: no matching resources found")
                return True
        failed = False
        uids: dict[tuple[str, str, str | None], str] = {}
        for info, name, ns in items:
            delay = 0.2
            while True:
                try:
                    obj = await client.get(info.kind, name, ns)
                except errors.NotFound as e:
                    if cond.kind == "delete":
                        out(f"{info.qualified}/{name} condition met")
                        break
                    obj = None
                    last_error = e
                if obj is not None:
                    if cond.kind == "delete":
                        uid = uids.setdefault((info.kind, name, ns), obj.metadata.uid)
                        if obj.metadata.uid != uid:
                            out(f"{info.qualified}/{name} condition met")
                            break
                    elif condition_met(obj, cond):
                        out(f"{info.qualified}/{name} condition met")
                        break
                if time.monotonic() >= deadline:
                    if obj is None and cond.kind != "delete":
                        err(api_error_line(last_error))
                    else:
                        err(f"error: timed out waiting for the condition on {info.plural}/{name}")
                    failed = True
                    break
                await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 1.5, 1.0)
        return failed

    if run(body):
        raise Failed(1)
