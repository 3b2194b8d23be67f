"""Every verb's `-o yaml` is kubectl's YAML (kubectl.printers.dump_yaml): keys sorted as Go's sigs.k8s.io/yaml
writes them, so `auth whoami` and `create token` print their documents as `get -o yaml` does."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from kubectl import auth
from kubectl.main import cli
from kubelab.v1 import api_pb2 as api


def test_whoami_yaml_is_kubectls(monkeypatch: pytest.MonkeyPatch) -> None:
    info = SimpleNamespace(username="alice", uid="", groups=["dev", "system:authenticated"], extra=[])
    monkeypatch.setattr(auth, "run", lambda call: info)
    out = CliRunner().invoke(cli, ["auth", "whoami", "-o", "yaml"], catch_exceptions=False).output
    assert out == ("apiVersion: authentication.k8s.io/v1\n"
                   "kind: SelfSubjectReview\n"
                   "metadata:\n"
                   "  creationTimestamp: null\n"
                   "status:\n"
                   "  userInfo:\n"
                   "    groups:\n"
                   "    - dev\n"
                   "    - system:authenticated\n"
                   "    username: alice\n")


def test_create_token_yaml_is_kubectls(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubectl import context
    resp = api.TokenResponse(token="a.b.c", expiration_timestamp="2026-01-01T01:00:00Z", expiration_seconds=3600,
                             audiences=["https://kubernetes.default.svc"])
    monkeypatch.setattr(context, "run", lambda call: resp)
    monkeypatch.setattr(context.Settings, "current_namespace", lambda self: "default")
    out = CliRunner().invoke(cli, ["create", "token", "sa", "-o", "yaml"], catch_exceptions=False).output
    lines: list[Any] = out.splitlines()
    assert lines[:6] == ["apiVersion: authentication.k8s.io/v1", "kind: TokenRequest", "metadata:",
                         "  creationTimestamp: null", "  name: sa", "  namespace: default"]
    assert lines[6:] == ["spec:", "  audiences:", "  - https://kubernetes.default.svc", "  boundObjectRef: null",
                         "  expirationSeconds: 3600", "status:", "  expirationTimestamp: \"2026-01-01T01:00:00Z\"",
                         "  token: a.b.c"]
