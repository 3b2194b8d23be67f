"""A test tier's own kubeconfig: `$KUBECONFIG` points at a temp file for the whole session, so a test never
reads or writes the user's ~/.kube/config (`cluster up` writes the kubeconfig kubectl reads, and the CLI
falls back to it), and a lab left up on the machine cannot change what a test sees."""
from __future__ import annotations

import os
from typing import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _kubeconfig_in_a_temp_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    old = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(tmp_path_factory.mktemp("kube") / "config")
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = old
