"""The hollow (SIMULATED) kubelet's rules: which pulls fail, when a container becomes Ready."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from kubelab.client import new_object
from kubelet.hollow import ContainerSim, HollowConfig, HollowRunner, image_missing


@pytest.mark.parametrize("image,missing", [
    pytest.param("kubelab/hello:v1", False, id="built"),
    pytest.param("kubelab/web", False, id="built-untagged-is-latest"),
    pytest.param("kubelab/hello:v10", True, id="seed-003-rollback-tag"),
    pytest.param("kubelab/nginx:1.16", True, id="not-built"),
    pytest.param("nginx:1.16", False, id="other-registries-simulated"),
    pytest.param("nginx:missing", True, id="pattern"),
    pytest.param("jocatalin/kubernetes-bootcamp:v1", False, id="stand-in"),
    pytest.param("docker.io/library/nginx:1.15", False, id="stand-in-long-name"),
    pytest.param("gcr.io/google-samples/kubernetes-bootcamp:v1", False, id="stand-in-gcr"),
    pytest.param("jocatalin/kubernetes-bootcamp:v10", True, id="seed-003-v10-not-in-the-lab-registry"),
    pytest.param("nginx:1.99", True, id="mirrored-repository-missing-tag"),
    pytest.param("localhost:5000/handson-001/cowweb:v1.0", False, id="pushed-simulated"),
])
def test_which_pulls_fail(image: str, missing: bool) -> None:
    assert image_missing(image, HollowConfig()) is missing


def test_any_kubelab_image_turns_the_catalogue_rule_off() -> None:
    assert not image_missing("kubelab/hello:v10", HollowConfig(lab_images_only=False))
    assert image_missing("kubelab/hello:missing", HollowConfig(lab_images_only=False))


def ready_at(probe: dict[str, int]) -> float:
    """Seconds after the start at which the hollow kubelet first reports the container Ready."""
    pod = new_object("Pod", "p", "default")
    c = pod.spec.containers.add(name="c", image="kubelab/web")
    for field, value in probe.items():
        setattr(c.readiness_probe, field, value)
    c.readiness_probe.tcp_socket.port.number_value = 80
    runner = SimpleNamespace(config=HollowConfig())
    wake: list[float] = []
    assert not HollowRunner._ready(runner, pod, c, ContainerSim("c", "kubelab/web", started=100.0), 100.0, wake)
    return wake[0] - 100.0


def test_ready_after_the_initial_delay_and_success_threshold_periods() -> None:
    # seed 001's sample-healthcheck: initialDelaySeconds 5, periodSeconds 3, successThreshold 2 → Ready at 8 s
    assert ready_at({"initial_delay_seconds": 5, "period_seconds": 3, "success_threshold": 2}) == 8
    assert ready_at({"initial_delay_seconds": 5, "period_seconds": 3, "success_threshold": 1}) == 5


@pytest.mark.parametrize("image,words", [
    ("Nginx:1.16", "invalid reference format: repository name (library/Nginx) must be lowercase"),
    ("nginx:", "invalid reference format"),
    ("nginx@sha256:abc", "invalid reference format"),
])
def test_an_unparseable_image_waits_invalid_image_name_as_on_a_docker_node(image: str, words: str) -> None:
    # A pod stored before the apiserver refused such references reaches the hollow kubelet as it would a
    # Docker node: waiting InvalidImageName with Docker's words, InspectFailed once, never a simulated pull.
    from kubelet.hollow import PodSim
    pod = new_object("Pod", "p", "default")
    c = pod.spec.containers.add(name="c", image=image)
    events: list[tuple[str, str, str]] = []
    runner = HollowRunner.__new__(HollowRunner)
    runner.config = HollowConfig()
    runner.container_event = lambda _pod, _node, _c, type_, reason, message: events.append((type_, reason, message))
    runner.host_ips = {"hollow-1": "172.16.0.2"}
    sim = PodSim(uid="u", key="default/p", node="hollow-1", seen=0.0, start_time="")
    for now in (100.0, 130.0):
        out = runner.desired_status(pod, sim, now)[0].container_statuses[0]
        assert out.state.waiting.reason == "InvalidImageName"
        assert out.state.waiting.message == (f'Failed to apply default image tag "{image}": couldn\'t parse image '
                                             f'reference "{image}": {words}')
        assert not out.started and not out.image_id
    assert events == [("Warning", "InspectFailed", out.state.waiting.message),
                      ("Warning", "Failed", "Error: InvalidImageName")]


def test_the_kubelets_cli_runs_hollow_nodes_with_its_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """kubelet/main.py is the hollow runner's one entry point: its hollow: flags become HollowConfig's fields."""
    from click.testing import CliRunner

    import kubelet.main as cli
    started: list[tuple[int, HollowConfig]] = []
    monkeypatch.setattr(cli, "HollowNodes", lambda server, token, n, config: started.append((n, config)))
    monkeypatch.setattr(cli.serving, "run", lambda make, **_: make())
    monkeypatch.setattr(cli, "setup_component", lambda _v, _c, server, token: SimpleNamespace(server=server,
                                                                                             token=token))
    monkeypatch.setattr(cli.client, "set_user_agent", lambda _agent: None)     # this process's stays
    base = ["--server", "127.0.0.1:1", "--token", "t", "--runtime", "hollow"]
    result = CliRunner().invoke(cli.main, base + [
        "--nodes", "3", "--heartbeat", "2", "--backoff-base", "4", "--cpu", "2", "--no-events",
        "--missing-images", "a:*,b:*", "--register-with-taints", "k=v:NoSchedule"])
    assert result.exit_code == 0, result.output
    n, config = started[-1]
    assert (n, config.node_names, config.heartbeat, config.image_pull_backoff, config.cpu, config.events) == (
        3, [], 2.0, 4.0, "2", False)
    assert config.missing_images == ("a:*", "b:*") and [t.effect for t in config.taints] == ["NoSchedule"]
    assert CliRunner().invoke(cli.main, base + ["--node-name", "hn-a,hn-b"]).exit_code == 0
    assert (started[-1][0], started[-1][1].node_names) == (0, ["hn-a", "hn-b"])


def test_the_docker_kubelet_registers_with_the_taints_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """--register-with-taints is the kubelet's flag, not only the hollow runner's: the Docker kubelet's Config
    carries it to the Node it registers (kubelet/server.py hands Config.taints to NodeConfig)."""
    from click.testing import CliRunner

    import kubelet.main as cli
    started: list[object] = []
    monkeypatch.setattr(cli, "Kubelet", lambda cfg: started.append(cfg))
    monkeypatch.setattr(cli.serving, "run", lambda make, **_: make())
    monkeypatch.setattr(cli, "setup_component", lambda _v, _c, server, token: SimpleNamespace(server=server,
                                                                                             token=token))
    monkeypatch.setattr(cli.client, "set_user_agent", lambda _agent: None)
    monkeypatch.setenv("KUBELAB_KUBELET_TOKEN", "kt")
    result = CliRunner().invoke(cli.main, ["--server", "127.0.0.1:1", "--token", "t", "--node-name", "node9",
                                           "--register-with-taints", "dedicated=gpu:NoSchedule,spot:PreferNoSchedule"])
    assert result.exit_code == 0, result.output
    taints = getattr(started[-1], "taints")
    assert [(t.key, t.value, t.effect) for t in taints] == [
        ("dedicated", "gpu", "NoSchedule"), ("spot", "", "PreferNoSchedule")]
