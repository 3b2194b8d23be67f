"""A status message always fits gRPC's trailer limit, and a name no object can have is refused in
kube-apiserver's words (apiserver.checks: fit_message, check_path), without a server."""
from __future__ import annotations

import pytest

from apiserver.checks import MAX_STATUS_MESSAGE, _encoded_size, check_path, fit_message
from kubelab import errors


@pytest.mark.parametrize("message", ["a" * 100, "a" * 10_000, "\U0001F600" * 5_000, "x%" * 4_000, "é" * 9_000])
def test_a_message_fits_the_trailer(message: str) -> None:
    fitted = fit_message(message)
    assert _encoded_size(fitted.encode()) <= MAX_STATUS_MESSAGE + 3
    assert fitted == message or (fitted.endswith("...") and message.startswith(fitted[:-3]))


def test_a_short_message_is_unchanged() -> None:
    assert fit_message('pods "web" not found') == 'pods "web" not found'


@pytest.mark.parametrize("namespace,name,message", [
    ("default", "a" * 254, 'Name parameter invalid: "' + "a" * 253 + '...": must be no more than 253 characters'),
    ("default", "..", "Name parameter invalid: \"..\": may not be '..'"),
    ("default", "a/b", "Name parameter invalid: \"a/b\": may not contain '/'"),
    ("x" * 300, "web", 'Namespace parameter invalid: "' + "x" * 253 + '...": must be no more than 253 characters'),
])
def test_a_name_no_object_can_have(namespace: str, name: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as e:
        check_path(namespace, name)
    assert e.value.message == message


def test_a_possible_name_passes() -> None:
    check_path("default", "a" * 253)
    check_path("", "node-1")
