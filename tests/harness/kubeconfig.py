"""A test's own kubeconfig: `$KUBECONFIG` points at a temp file for a tier's whole session, so a test never
reads or writes the user's ~/.kube/config (`cluster up` writes the kubeconfig kubectl reads, and the CLI
falls back to it), and a lab left up on the machine cannot change what a test sees; `kubeconfig_in` does the
same for one test cluster's block (both files in its temp dir)."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import pytest


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    """These environment variables set while the block runs; what was there before put back after."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def kubeconfig_in(tmp: Path) -> contextlib.AbstractContextManager[None]:
    """$KUBELAB_CONFIG and $KUBECONFIG (kubectl's, as `cluster up` writes it) point into `tmp` while the block
    runs: a test cluster never touches the user's."""
    return environ(KUBELAB_CONFIG=str(tmp / "kubeconfig"), KUBECONFIG=str(tmp / "kube-config"))


@pytest.fixture(scope="session", autouse=True)
def _kubeconfig_in_a_temp_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with environ(KUBECONFIG=str(tmp_path_factory.mktemp("kube") / "config")):
        yield
