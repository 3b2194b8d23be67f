"""The apiserver's authentication filter as a front end reuses it (apiserver/auth.py), without a server."""
from __future__ import annotations

import pytest

from apiserver.auth import ADMIN, MAX_REQUEST_BYTES, Authenticator, bearer_token, too_large, unauthorized
from kubelab import errors


@pytest.mark.parametrize("header,token", [
    ("Bearer abc", "abc"), ("bearer abc", "abc"), ("Bearer  abc ", "abc"), ("Basic abc", None), (None, None),
])
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_authenticate() -> None:
    auth = Authenticator("s3cret")
    assert auth.required and auth.authenticate("s3cret") == ADMIN
    assert auth.authenticate("s3cre") is None and auth.authenticate("") is None and auth.authenticate(None) is None
    open_auth = Authenticator("")
    assert not open_auth.required and open_auth.authenticate(None) == ADMIN


def test_refusals_in_kubernetes_words() -> None:
    assert isinstance(unauthorized(None), errors.Unauthenticated)
    assert unauthorized(None).message == "Unauthorized: missing bearer token"
    assert unauthorized("Bearer x").message == "Unauthorized: invalid bearer token"
    assert MAX_REQUEST_BYTES == 3 * 1024 * 1024
    assert too_large().message == "Request entity too large: limit is 3145728"
    assert too_large().reason == "RequestEntityTooLarge"
