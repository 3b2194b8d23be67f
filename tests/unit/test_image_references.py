"""Image references: the kubelet's parser (Docker's distribution/reference, with its words), the lab
registry mirror's names, and what the apiserver checks (set; no surrounding whitespace on pods, as
kube-apiserver; and, unlike kube-apiserver, the format, with the same parser: kubelab.imageref)."""
from __future__ import annotations

import time
from typing import Any

import pytest

from apiserver.registry import strategies
from kubelab import manifests
from kubelab.catalogue import STAND_INS, familiar, mirrored
from kubelab.imageref import InvalidReference, parse_normalized, with_default_tag
from kubelet.pulls import go_duration, pull_target

S = strategies()


@pytest.mark.parametrize("image,normalised", [
    ("nginx", "docker.io/library/nginx:latest"),
    ("nginx:1.16", "docker.io/library/nginx:1.16"),
    ("library/nginx:1.16", "docker.io/library/nginx:1.16"),
    ("docker.io/nginx:1.16", "docker.io/library/nginx:1.16"),
    ("index.docker.io/library/nginx", "docker.io/library/nginx:latest"),
    ("jocatalin/kubernetes-bootcamp:v1", "docker.io/jocatalin/kubernetes-bootcamp:v1"),
    ("gcr.io/google-samples/kubernetes-bootcamp:v1", "gcr.io/google-samples/kubernetes-bootcamp:v1"),
    ("localhost:5000/handson-001/cowweb:v1.0", "localhost:5000/handson-001/cowweb:v1.0"),
    ("localhost/x", "localhost/x:latest"),
    ("nginx@sha256:" + "a" * 64, "docker.io/library/nginx@sha256:" + "a" * 64),
])
def test_normalised(image: str, normalised: str) -> None:
    assert str(with_default_tag(image)) == normalised


@pytest.mark.parametrize("image,words", [
    ("Nginx:1.16", "invalid reference format: repository name (library/Nginx) must be lowercase"),
    ("nginx:", "invalid reference format"),
    ("nginx@sha256:abc", "invalid reference format"),
    ("nginx@sha256:" + "a" * 40, "invalid checksum digest length"),
    ("nginx@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("nginx:1.16 ", "invalid reference format"),
    ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
])
def test_invalid_reference_words(image: str, words: str) -> None:
    with pytest.raises(InvalidReference) as e:
        with_default_tag(image)
    assert str(e.value) == (f'Failed to apply default image tag "{image}": '
                            f'couldn\'t parse image reference "{image}": ' + str(e.value).split('": ', 2)[2])
    assert str(e.value).endswith(words)


def test_uppercase_domain_is_a_domain() -> None:
    assert parse_normalized("Registry.example:5000/x").domain == "Registry.example:5000"


@pytest.mark.parametrize("image,target", [
    ("nginx:1.16", "localhost:5001/docker.io/library/nginx:1.16"),
    ("docker.io/library/nginx:1.16", "localhost:5001/docker.io/library/nginx:1.16"),
    ("nginx", "localhost:5001/docker.io/library/nginx:latest"),
    ("jocatalin/kubernetes-bootcamp:v10", "localhost:5001/docker.io/jocatalin/kubernetes-bootcamp:v10"),
    ("gcr.io/google-samples/kubernetes-bootcamp:v1", "localhost:5001/gcr.io/google-samples/kubernetes-bootcamp:v1"),
    ("kubelab/web", "kubelab/web"),                       # the lab's own: used as built
    ("redis:6", "redis:6"),                               # not mirrored: pulled as written
    ("localhost:5000/nginx:1.16", "localhost:5000/nginx:1.16"),   # a user's push, apart from the stand-in
    # A push of the stand-in's path to the users' registry is theirs: nginx:1.16 never pulls it.
    ("localhost:5000/docker.io/library/nginx:1.16", "localhost:5000/docker.io/library/nginx:1.16"),
])
def test_pull_target(image: str, target: str) -> None:
    assert pull_target(image) == target


def test_every_stand_in_is_normalised_and_mirrored() -> None:
    for name, _ in STAND_INS:
        assert str(with_default_tag(familiar(name))) == name
        assert pull_target(familiar(name)) == mirrored(name)


@pytest.mark.parametrize("seconds,text", [(0.5124, "512ms"), (1.2, "1.2s"), (2.1314, "2.131s"), (62.5, "1m2.5s"),
                                          (3.0, "3s")])
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


POD = """apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - {name: c, image: %s}
"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
      - {name: c, image: %s}
"""


def errors_of(text: str) -> list[str]:
    [doc] = manifests.parse_text(text, "t")
    strat = S[doc.obj.kind]
    strat.default(doc.obj)
    return [str(e) for e in strat.validate(doc.obj)]


def test_pod_image_whitespace_is_invalid() -> None:
    assert errors_of(POD % '" nginx:1.16"') == [
        'spec.containers[0].image: Invalid value: " nginx:1.16": must not have leading or trailing whitespace']


def test_pod_image_required() -> None:
    assert errors_of(POD % '""') == ["spec.containers[0].image: Required value"]


@pytest.mark.parametrize("image,words", [
    ("Nginx:1.16", "invalid reference format: repository name (library/Nginx) must be lowercase"),
    ("nginx:", "invalid reference format"),
    ("nginx@sha256:abc", "invalid reference format"),
    ("nginx@sha256:" + "a" * 40, "invalid checksum digest length"),
])
def test_image_format_is_invalid_at_apply(image: str, words: str) -> None:
    # Refused at apply with Docker's words, on pods and on templates (kube-apiserver leaves it to the kubelet).
    assert errors_of(POD % f'"{image}"') == [f'spec.containers[0].image: Invalid value: "{image}": {words}']
    assert errors_of(DEPLOYMENT % f'"{image}"') == [
        f'spec.template.spec.containers[0].image: Invalid value: "{image}": {words}']


@pytest.mark.parametrize("image", ["nginx:1.16", "localhost:5000/handson-001/cowweb:v1.0",
                                   "Registry.example:5000/x", "nginx@sha256:" + "a" * 64, "kubelab/web"])
def test_valid_references_pass(image: str) -> None:
    assert errors_of(POD % f'"{image}"') == []
    assert errors_of(DEPLOYMENT % f'"{image}"') == []


def test_template_whitespace_stays_legal_and_empty_is_required() -> None:
    assert errors_of(DEPLOYMENT % '" "') == []
    assert errors_of(DEPLOYMENT % '""') == ["spec.template.spec.containers[0].image: Required value"]


def test_pod_image_update_is_checked() -> None:
    [doc] = manifests.parse_text(POD % "nginx:1.16", "t")
    old = doc.obj
    S["Pod"].default(old)
    new = type(old)()
    new.CopyFrom(old)
    new.spec.containers[0].image = "Nginx:1.16"
    errs = [str(e) for e in S["Pod"].validate_update(new, old)]
    assert 'spec.containers[0].image: Invalid value: "Nginx:1.16": invalid reference format: repository name ' \
           '(library/Nginx) must be lowercase' in errs


async def test_the_docker_kubelet_waits_invalid_image_name_and_never_asks_the_engine() -> None:
    # The kubelet path stays for pods stored before the apiserver refused such references.
    from types import SimpleNamespace

    from kubelab.timeutil import FakeClock
    from kubelet.config import PodConfig
    from kubelet.pulls import ImagePuller

    from tests.harness.docker_kubelet import FakeRuntime

    class NoEngine(FakeRuntime):
        async def inspect_image(self, ref: str) -> dict[str, Any] | None:
            raise AssertionError(f"inspected {ref}")

        async def pull(self, ref: str) -> dict[str, Any]:
            raise AssertionError(f"pulled {ref}")

    events: list[tuple[str, str, str]] = []
    puller = ImagePuller(PodConfig(node_name="n"), NoEngine(time.time), FakeClock())
    got = await puller.ensure("u", "p", SimpleNamespace(image="Nginx:1.16", image_pull_policy="Always"),
                              lambda *e: events.append(e))
    msg = ('Failed to apply default image tag "Nginx:1.16": couldn\'t parse image reference "Nginx:1.16": '
           'invalid reference format: repository name (library/Nginx) must be lowercase')
    assert not got.ok and got.waiting == ("InvalidImageName", msg)
    assert events == [("Warning", "InspectFailed", msg), ("Warning", "Failed", "Error: InvalidImageName")]
