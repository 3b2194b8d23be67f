"""`kubelab dashboard` in a real browser (Debian's chromium and chromium-driver, headless, through selenium)
against a local cluster with three hollow nodes: the page shows the nodes and a Deployment's pods, follows the
watches without a reload, scales through the API, shows the API's refusal, escapes HTML in the cluster's
data, says when the API is gone and reconnects. The browser console must stay free of errors, and a
screenshot is written to the test's temp dir (its path is printed).

Integration tier (not e2e): no Docker; `kubelab dashboard --url` runs as its own process with a kubeconfig
written as `cluster up` writes it.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from kubelab import config as kubeconfig, manifests
from lab import local as launcher
from kubelab.client import Client

from tests.harness.browser import browser_session, console_errors, wait

from .conftest import control_plane_fixture

cluster = control_plane_fixture("dashboard", hollow_nodes=3)
browser = pytest.fixture(scope="module")(browser_session)

NS = "default"
XSS_IMAGE = "<img src=x onerror=window.__pwned=1>"
XSS_MESSAGE = "<script>window.__pwned=2</script><img src=x onerror=window.__pwned=3> done"


def _run(coro_fn: Callable[[Client], Any], info: dict[str, Any]) -> Any:
    async def body() -> Any:
        c = Client(info["server"], info["token"])
        try:
            return await coro_fn(c)
        finally:
            await c.close()
    return asyncio.run(body())


def _create(info: dict[str, Any], doc: dict[str, Any]) -> None:
    _run(lambda c: c.create(manifests.from_dict(doc)), info)


def _pod(name: str, image: str = "nginx:1.15", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "annotations": annotations or {}},
            "spec": {"containers": [{"name": "c", "image": image}]}}


@contextlib.contextmanager
def dashboard_process(cluster: dict[str, Any], tmp: Path, token: str) -> Iterator[str]:
    """`kubelab dashboard --url` with the kubeconfig `cluster up` would write; yields the URL it printed."""
    path = kubeconfig.write_kube_context(str(cluster["https"]), Path(cluster["ca_file"]).read_bytes(),
                                         token, cluster["server"], path=tmp / "kube-config")
    env = {**os.environ, "KUBECONFIG": str(path)}
    proc = subprocess.Popen([sys.executable, "-m", "kubectl", "dashboard", "--url"], env=env,
                            stdout=subprocess.PIPE, stderr=open(tmp / "dashboard.log", "wb"), start_new_session=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:"), (url, (tmp / "dashboard.log").read_text())
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


@pytest.fixture(scope="module")
def dashboard(cluster: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dashboard_process(cluster, tmp_path_factory.mktemp("dashboard"), cluster["token"]) as url:
        yield url


def cards(driver: Any, prefix: str) -> list[Any]:
    return [c for c in driver.find_elements("css selector", ".pod-card")
            if (c.get_attribute("data-name") or "").startswith(prefix)]


def open_page(driver: Any, url: str) -> None:
    """Load the page with the console log drained: what an earlier test's page said is not this one's."""
    driver.get("about:blank")
    driver.get_log("browser")
    driver.get(url)


def test_dashboard_in_a_browser(cluster: dict[str, Any], dashboard: str, browser: Any,
                                tmp_path: Path) -> None:
    from tests.harness.manifests import deployment_manifest
    _run(lambda c: c.create(deployment_manifest("web", NS, 3, "nginx:1.15")), cluster)
    open_page(browser, dashboard)

    # The three nodes as columns, the Deployment's pods as cards in them, the Deployment with its counts.
    nodes = wait(lambda: sorted(c.get_attribute("data-node") for c in browser.find_elements(
        "css selector", ".node-column") if c.get_attribute("data-node")), what="node columns")
    wait(lambda: len(browser.find_elements("css selector", ".node-column[data-node]")) >= 4, what="3 nodes")
    nodes = sorted(c.get_attribute("data-node") for c in browser.find_elements("css selector", ".node-column")
                   if c.get_attribute("data-node"))
    assert nodes == ["hollow-node-0", "hollow-node-1", "hollow-node-2"]
    wait(lambda: len([c for c in cards(browser, "web-") if c.get_attribute("data-state") == "ok"]) == 3,
         what="3 running web pods")
    for card in cards(browser, "web-"):
        column = card.find_element("xpath", "ancestor::section[@data-node]")
        assert column.get_attribute("data-node").startswith("hollow-node-")
        assert "nginx:1.15" in card.text and "1/1" in card.text
    wait(lambda: "ready 3/3" in browser.find_element("css selector", '.workload[data-name="web"]').text,
         what="web ready 3/3")

    # A pod created after the page loaded appears without a reload within 5 s.
    browser.execute_script("window.__loaded_once = true")
    start = time.monotonic()
    _create(cluster, _pod("late"))
    wait(lambda: cards(browser, "late"), timeout=5.0, what="the late pod's card")
    appeared = time.monotonic() - start
    assert browser.execute_script("return window.__loaded_once") is True        # same page: no reload
    print(f"\nlate pod's card on the page {appeared:.2f} s after the create")

    # Scale through the page: the API's Deployment changes and the cards follow.
    row = browser.find_element("css selector", '.workload[data-name="web"]')
    box = row.find_element("css selector", ".scale-input")
    box.clear()
    box.send_keys("5")
    row.find_element("css selector", "button.scale").click()
    wait(lambda: browser.find_element("id", "action-result").text == "deployment.apps/web scaled", what="scaled")
    assert _run(lambda c: c.get("Deployment", "web", NS), cluster).spec.replicas == 5
    wait(lambda: len(cards(browser, "web-")) == 5, what="5 web cards")

    # An action the API refuses: its Status is shown on the page, in kubectl's words.
    box.clear()
    box.send_keys("-1")
    row.find_element("css selector", "button.scale").click()
    wait(lambda: browser.find_element("id", "action-result").text.startswith("Error from server (Invalid)"),
         what="the API's Invalid")
    assert "spec.replicas: Invalid value: -1" in browser.find_element("id", "action-result").text

    # HTML in the cluster's data shows as text and runs nothing. Labels and images cannot carry it (the API
    # refuses both: an image must be a reference); annotations and events can.
    with pytest.raises(Exception, match="invalid reference format"):
        _create(cluster, _pod("xss-image", image=XSS_IMAGE))
    _create(cluster, _pod("xss", annotations={"note": "<script>window.__pwned=4</script>"}))
    _create(cluster, {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "xss.1", "namespace": NS},
                      "involvedObject": {"kind": "Pod", "namespace": NS, "name": "xss"},
                      "reason": "<b>Bold</b>", "message": XSS_MESSAGE, "type": "Warning"})
    card = wait(lambda: cards(browser, "xss"), what="the xss card")[0]
    event = wait(lambda: [e for e in browser.find_elements("css selector", "#events .event")
                          if XSS_MESSAGE in e.text], what="the event shown as text")[0]
    assert "<b>Bold</b>" in event.text
    card.click()
    wait(lambda: "window.__pwned=4" in browser.find_element("id", "detail-yaml").text, what="the YAML")
    wait(lambda: XSS_MESSAGE in browser.find_element("id", "detail-events").text, what="the object's events")
    # The pod's trace (its Events among the steps): the message is text there too.
    wait(lambda: XSS_MESSAGE in (browser.find_element("css selector", "#detail-trace .trace-steps")
                                 .get_attribute("textContent") or ""), what="the event in the pod's trace")
    assert browser.find_elements("css selector", "#board img, #events img, #detail img, #events b") == []
    assert browser.execute_script("return window.__pwned === undefined") is True
    browser.find_element("id", "detail-close").click()

    # The Deployment's trace as a swimlane: a lane per component that acted, a mark per step, in time order.
    browser.find_element("css selector", '.workload[data-name="web"] .workload-name').click()
    lanes = lambda: [g.get_attribute("data-component") for g in browser.find_elements(  # noqa: E731
        "css selector", "#detail-trace svg.swimlane g.lane")]
    wait(lambda: {"kube-controller-manager", "kube-scheduler", "kubelet"} <= set(lanes()),
         what=lambda: f"the swimlane's lanes (now {lanes()})")
    marks = browser.find_elements("css selector", "#detail-trace svg.swimlane circle.step")
    actions = [m.get_attribute("data-action") for m in marks]
    assert actions[0] == "create" and marks[0].get_attribute("data-object") == f"deployment/{NS}/web", actions
    assert len([a for a in actions if a.startswith("bind to hollow-node-")]) >= 3, actions
    xs = [float(m.get_attribute("cx")) for m in marks]
    assert xs == sorted(xs)                                     # left to right in time
    assert browser.find_element("css selector", "#detail-trace .trace-critical").text.startswith(
        "Critical path: apply → ")
    browser.save_screenshot(str(tmp_path / "swimlane.png"))
    print(f"screenshot: {tmp_path / 'swimlane.png'}")
    browser.find_element("id", "detail-close").click()

    assert console_errors(browser) == []
    shot = tmp_path / "dashboard.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")


# ---------------------------------------------------------------- 1,000 pods
def _synthetic_pod(i: int, phase: str) -> dict[str, Any]:
    ready = phase == "Running"
    return {"kind": "Pod", "metadata": {"name": f"p-{i:04d}", "namespace": "load", "uid": f"u{i}",
                                        "resourceVersion": str(i)},
            "spec": {"nodeName": f"node-{i % 3}", "containers": [{"name": "c", "image": "nginx:1.15"}]},
            "status": {"phase": phase, "containerStatuses": [{"name": "c", "ready": ready, "restartCount": 0}]}}


@pytest.fixture
def local_dashboard() -> Iterator[tuple[str, Any, Any]]:
    """The dashboard's server in a thread of this process, its Hub fed by the test (the API address is a
    closed port: the relays only report it unreachable), so a burst of 1,000 changes arrives at once."""
    import threading
    from dashboard.kubeapi import KubeApi
    from dashboard.server import HUB, serve
    from kubelab.config import KubeConnection
    loop = asyncio.new_event_loop()
    started: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner, port = loop.run_until_complete(serve(KubeApi(KubeConnection("https://127.0.0.1:9", "", None,
                                                                         False, "t")), 0))
        started.update(runner=runner, port=port)
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    t = threading.Thread(target=run, daemon=True)
    t.start()
    wait(lambda: "port" in started, what="the dashboard server")
    hub = started["runner"].app[HUB]
    try:
        yield f"http://127.0.0.1:{started['port']}/", hub, loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join(10)


def _click_card(browser: Any, name: str) -> bool:
    """Click the card (scrolled to the middle of the view); False when another element took the click."""
    from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException
    try:
        card = browser.find_element("css selector", f'.pod-card[data-name="{name}"]')
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", card)
        card.click()
        return True
    except (ElementClickInterceptedException, StaleElementReferenceException):
        return False


def test_a_thousand_pods_stay_responsive(local_dashboard: tuple[str, Any, Any], browser: Any) -> None:
    url, hub, loop = local_dashboard
    nodes = [{"kind": "Node", "metadata": {"name": f"node-{n}"}, "spec": {},
              "status": {"conditions": [{"type": "Ready", "status": "True"}]}} for n in range(3)]
    loop.call_soon_threadsafe(hub.replace, "Node", nodes)
    loop.call_soon_threadsafe(hub.replace, "Pod", [_synthetic_pod(i, "Pending") for i in range(1000)])
    open_page(browser, url)
    wait(lambda: browser.execute_script(
        "return document.querySelectorAll('.pod-card.state-pending').length") == 1000, what="1,000 cards")
    browser.execute_script("""
        window.__long = [];
        new PerformanceObserver((l) => l.getEntries().forEach((e) => window.__long.push(e.duration)))
            .observe({type: 'longtask'});""")

    def burst() -> None:           # every pod changes at once: 1,000 watch events
        for i in range(1000):
            hub.apply("Pod", "MODIFIED", _synthetic_pod(i, "Running"))
    start = time.monotonic()
    loop.call_soon_threadsafe(burst)
    # While the burst lands, the page still answers: a click opens the pod's panel. The cards redraw as their
    # state changes under the pointer, so a click that lands on the card's neighbour is made again, as a user would.
    wait(lambda: _click_card(browser, "p-0500"), timeout=30.0, what="a click on the card to land")
    wait(lambda: browser.find_element("id", "detail").is_displayed(), timeout=30.0, what="the detail panel")
    wait(lambda: browser.execute_script(
        "return document.querySelectorAll('.pod-card.state-ok').length") == 1000, timeout=30.0,
         what="1,000 cards updated")
    applied = time.monotonic() - start
    longest = max(browser.execute_script("return window.__long"), default=0.0)
    # figures, not assertions (the machine's load varies): bench/ measures the page's speed
    print(f"\n1,000 changes on the page in {applied:.2f} s; longest main-thread task {longest:.0f} ms")
    assert len(browser.find_elements("css selector", ".pod-card")) == 1000
    assert console_errors(browser) == []


def test_actions_on_the_page(cluster: dict[str, Any], dashboard: str, browser: Any) -> None:
    """Cordon and uncordon a node, delete a pod, roll a Deployment back, see a NodePort Service's endpoints:
    each through the page, each checked in the API."""
    from tests.harness.manifests import deployment_manifest
    _run(lambda c: c.create(deployment_manifest("shop", NS, 2, "nginx:1.15")), cluster)
    _create(cluster, _pod("doomed"))
    _create(cluster, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": NS},
                      "spec": {"type": "NodePort", "selector": {"component": "shop"},
                               "ports": [{"port": 80, "targetPort": 80}]}})
    open_page(browser, dashboard)
    result = lambda: browser.find_element("id", "action-result").text  # noqa: E731

    column = wait(lambda: browser.find_element("css selector", '.node-column[data-node="hollow-node-1"]'))
    column.find_element("css selector", "button.cordon").click()
    wait(lambda: result() == "node/hollow-node-1 cordoned", what="cordoned")
    assert _run(lambda c: c.get("Node", "hollow-node-1"), cluster).spec.unschedulable is True
    wait(lambda: "SchedulingDisabled" in column.text and column.find_element(
        "css selector", "button.cordon").text == "Uncordon", what="the column cordoned")
    column.find_element("css selector", "button.cordon").click()
    wait(lambda: result() == "node/hollow-node-1 uncordoned", what="uncordoned")
    assert _run(lambda c: c.get("Node", "hollow-node-1"), cluster).spec.unschedulable is False
    wait(lambda: "SchedulingDisabled" not in column.text, what="the column uncordoned")

    wait(lambda: cards(browser, "doomed"))[0].click()
    wait(lambda: browser.find_element("css selector", "#detail button.delete")).click()
    wait(lambda: result() == 'pod "doomed" deleted', what="deleted")
    wait(lambda: not cards(browser, "doomed"), timeout=15.0, what="the card gone")
    browser.find_element("id", "detail-close").click()

    async def new_image(c: Client) -> None:
        d = await c.get("Deployment", "shop", NS)
        d.spec.template.spec.containers[0].image = "nginx:1.16"
        await c.update(d)
    _run(new_image, cluster)
    row = browser.find_element("css selector", '.workload[data-name="shop"]')
    wait(lambda: "successfully rolled out" in row.text and "rev 2" in row.text, timeout=30.0,
         what=lambda: f"revision 2 in {row.text!r}")
    row.find_element("css selector", "button.undo").click()
    wait(lambda: result() == "deployment.apps/shop rolled back", what="rolled back")
    d = _run(lambda c: c.get("Deployment", "shop", NS), cluster)
    assert d.spec.template.spec.containers[0].image == "nginx:1.15"
    assert "pod-template-hash" not in d.spec.template.metadata.labels
    wait(lambda: "rev 3" in row.text, timeout=30.0, what="revision 3 (the old template, re-numbered)")

    svc = _run(lambda c: c.get("Service", "shop", NS), cluster)
    node_port = svc.spec.ports[0].node_port
    panel = lambda: browser.find_element("css selector", '.service[data-name="shop"]')  # noqa: E731 (redrawn)
    wait(lambda: f"NodePort {svc.spec.cluster_ip} 80:{node_port}/TCP" in panel().text, what="the NodePort")
    wait(lambda: len(panel().find_elements("css selector", ".ep.ready")) == 2, timeout=30.0,
         what=lambda: f"2 endpoints in {panel().text!r}")
    assert console_errors(browser) == []


def test_a_token_the_api_refuses_is_said_on_the_page(cluster: dict[str, Any], browser: Any, tmp_path: Path) -> None:
    with dashboard_process(cluster, tmp_path, "not-the-token") as url:
        open_page(browser, url)
        banner = browser.find_element("id", "banner")
        wait(lambda: banner.is_displayed() and "refuses the watches" in banner.text, what="the banner")
        assert "Error from server (Unauthorized)" in banner.text
        assert browser.find_elements("css selector", ".pod-card") == []
        assert console_errors(browser) == []


def test_what_a_view_user_may_not_do_shows_the_apis_forbidden(cluster: dict[str, Any], browser: Any,
                                                             tmp_path: Path) -> None:
    """The `view` identity (lab/identities.py: the `view` ClusterRole) sees everything and changes nothing: the
    page says the API's Forbidden, in kubectl's words, and the Deployment keeps its replicas."""
    from tests.harness.manifests import deployment_manifest
    _run(lambda c: c.create(deployment_manifest("viewed", NS, 1, "nginx:1.15")), cluster)
    view = (Path(cluster["state_path"]) / "identities" / "view.token").read_text().strip()
    with dashboard_process(cluster, tmp_path, view) as url:
        open_page(browser, url)
        row = wait(lambda: browser.find_element("css selector", '.workload[data-name="viewed"]'), what="the row")
        box = row.find_element("css selector", ".scale-input")
        box.clear()
        box.send_keys("4")
        row.find_element("css selector", "button.scale").click()
        result = lambda: browser.find_element("id", "action-result").text  # noqa: E731
        wait(lambda: result().startswith("Error from server (Forbidden)"), what=lambda: f"Forbidden, not {result()!r}")
        assert result() == ('Error from server (Forbidden): deployments.apps "viewed" is forbidden: User "view" '
                            'cannot patch resource "deployments/scale" in API group "apps" in the namespace '
                            '"default"'), result()
        assert "error" in browser.find_element("id", "action-result").get_attribute("class")
        assert _run(lambda c: c.get("Deployment", "viewed", NS), cluster).spec.replicas == 1
        # the swimlane is a read: the view user gets it
        browser.find_element("css selector", '.workload[data-name="viewed"] .workload-name').click()
        wait(lambda: browser.find_elements("css selector", "#detail-trace svg.swimlane circle.step"),
             what="the view user's swimlane")
        assert console_errors(browser) == []


def test_dashboard_says_the_api_is_gone_and_reconnects(cluster: dict[str, Any], dashboard: str,
                                                       browser: Any, tmp_path: Path) -> None:
    """Last in the module: it stops the control plane. The apiserver is killed: the banner says so; it comes back: the
    banner goes and a pod created meanwhile is on the page, no reload."""
    _create(cluster, _pod("before-outage"))
    open_page(browser, dashboard)
    wait(lambda: cards(browser, "before-outage"), what="the page")
    banner = browser.find_element("id", "banner")
    assert not banner.is_displayed()
    browser.execute_script("window.__same_page = true")
    launcher.stop_component("apiserver", cluster["state_path"], signal.SIGKILL)
    try:
        wait(lambda: banner.is_displayed() and "is unreachable" in banner.text, timeout=15.0, what="the banner")
        print(f"\nbanner: {banner.text}")
        browser.save_screenshot(str(tmp_path / "api-gone.png"))
        print(f"screenshot: {tmp_path / 'api-gone.png'}")
    finally:
        launcher.restart_component("apiserver", cluster["state_path"])
        # With the lab's 4 s lease, the controller manager and scheduler lose leadership during the outage
        # and exit, as Kubernetes' do (a supervisor restarts them): the launcher is that supervisor here.
        for name in ("scheduler", "controller-manager"):
            launcher.restart_component(name, cluster["state_path"])
    wait(lambda: _run(lambda c: c.list("Node"), cluster), timeout=30.0, what="the apiserver back")
    _create(cluster, _pod("after-outage"))
    wait(lambda: cards(browser, "after-outage"), timeout=30.0, what="a pod created after the outage")
    wait(lambda: not banner.is_displayed(), timeout=30.0, what="the banner gone")
    assert browser.execute_script("return window.__same_page") is True
    # The page's own fetches never failed; the EventSource to the local server stayed up: nothing to report.
    assert console_errors(browser) == []


def test_the_real_kubectl_runs_the_dashboard_as_its_plugin(cluster: dict[str, Any], tmp_path: Path) -> None:
    """The dashboard is the program kubectl-dashboard: kubectl 1.37 (not ours) finds it on PATH as a plugin and
    runs it with the user's kubeconfig, as `kubelab dashboard` does."""
    import urllib.request

    from tests.realclients import kubectl_137
    path = kubeconfig.write_kube_context(str(cluster["https"]), Path(cluster["ca_file"]).read_bytes(),
                                         cluster["token"], cluster["server"], path=tmp_path / "kube-config")
    bin_dir = Path(sys.executable).parent           # this install's bin, where kubectl-dashboard is
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", "KUBECONFIG": str(path), "HOME": str(tmp_path)}
    listed = subprocess.run([str(kubectl_137()), "plugin", "list", "--name-only"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert "kubectl-dashboard" in listed.stdout.split(), (listed.stdout, listed.stderr)
    proc = subprocess.Popen([str(kubectl_137()), "dashboard", "--url"], env=env, stdout=subprocess.PIPE,
                            stderr=open(tmp_path / "dashboard.log", "wb"), start_new_session=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:"), (url, (tmp_path / "dashboard.log").read_text())
        with urllib.request.urlopen(url, timeout=10) as page:
            assert b"<title>kubelab dashboard</title>" in page.read()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(10) == 0                   # kubectl passes the plugin's graceful exit on
