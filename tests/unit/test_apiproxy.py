"""`kubelab proxy`'s path handling (kubectl/apiproxy.py): the tutorials' pre-1.10 pod proxy URL goes to the
current form; everything else passes as it came."""
from __future__ import annotations

import pytest

from kubectl.apiproxy import legacy_proxy_path


@pytest.mark.parametrize("raw, want", [
    ("/api/v1/proxy/namespaces/default/pods/web-1/", "/api/v1/namespaces/default/pods/web-1/proxy/"),
    ("/api/v1/proxy/namespaces/default/pods/web-1", "/api/v1/namespaces/default/pods/web-1/proxy/"),
    ("/api/v1/proxy/namespaces/ns/services/web:http/a/b?x=1", "/api/v1/namespaces/ns/services/web:http/proxy/a/b?x=1"),
    ("/api/v1/namespaces/default/pods/web-1/proxy/", "/api/v1/namespaces/default/pods/web-1/proxy/"),
    ("/api/v1/proxy/namespaces/default/deployments/x/", "/api/v1/proxy/namespaces/default/deployments/x/"),
    ("/version", "/version"),
])
def test_legacy_pod_proxy_urls_are_sent_to_the_current_form(raw: str, want: str) -> None:
    assert legacy_proxy_path(raw) == want
