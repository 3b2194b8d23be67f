"""`kubelab image load`'s words when a push fails (kubectl/image.py): the registry's own answer to a new
upload says whether its storage is full; and where a name is loaded, never over the lab's mirror."""
from __future__ import annotations

import http.server
import threading
from typing import Iterator

import pytest

from kubectl import image
from kubectl.context import CLIError

ENOSPC = (b'{"errors":[{"code":"UNKNOWN","message":"unknown error","detail":{"DriverName":"filesystem",'
          b'"Enclosed":{"Op":"write","Path":"/var/lib/docker-registry/docker/registry/v2/repositories/x/'
          b'_uploads/1/startedat","Err":28}}}]}')


SEEN: list[str] = []


def serve(status: int, body: bytes) -> Iterator[str]:
    """A registry stand-in answering every POST and DELETE with `status`; requests go to SEEN."""
    SEEN.clear()
    seen = SEEN

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(f"{self.command} {self.path}")
            self.send_response(status)
            if status == 202:
                self.send_header("Location", "/v2/x/blobs/uploads/1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()


@pytest.fixture
def full(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for url in serve(500, ENOSPC):
        monkeypatch.setattr(image, "API", url)
        yield


@pytest.fixture
def roomy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for url in serve(202, b""):
        monkeypatch.setattr(image, "API", url)
        yield


def test_a_full_storage_is_named(full: None) -> None:
    why = image._why_push_failed("localhost:5000/x:v1")
    assert "the lab registry's storage is full (no space left on device)" in why
    assert "nothing of localhost:5000/x:v1 was stored" in why


def test_room_left_adds_nothing_and_cancels_the_probe_upload(roomy: None) -> None:
    assert image._why_push_failed("localhost:5000/x:v1") == ""
    assert SEEN == ["POST /v2/x/blobs/uploads/", "DELETE /v2/x/blobs/uploads/1"]


@pytest.mark.parametrize("ref,target", [("nginx:1.16", "localhost:5000/nginx:1.16"),
                                        ("me/app", "localhost:5000/me/app:latest"),
                                        ("localhost:5000/x:v1", "localhost:5000/x:v1")])
def test_where_load_puts_an_image(ref: str, target: str) -> None:
    assert image.registry_name(ref) == target


@pytest.mark.parametrize("ref,words", [("localhost:5001/docker.io/library/nginx:1.16", "read-only mirror"),
                                       ("localhost:5000/docker.io/library/nginx:1.16", "stand-ins")])
def test_the_mirror_and_the_stand_ins_paths_are_refused(ref: str, words: str) -> None:
    with pytest.raises(CLIError) as e:
        image.registry_name(ref)
    assert words in str(e.value)
