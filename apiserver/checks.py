"""What the apiserver's handlers share over gRPC and HTTP: the checks on a request's path (a name no object can
have is BadRequest before it becomes an etcd key), the error a client hears of storage trouble, and a status
message cut to what a gRPC trailer carries.
"""
from __future__ import annotations

import logging

import grpc

from kubelab import errors

from . import storage as st

log = logging.getLogger(__name__)


def storage_error(e: st.StorageError) -> errors.ApiError:
    """What a client hears of storage trouble the store did not turn into an API error itself.

    Any StorageError must end here: one that reached grpc would be UNKNOWN with a traceback in the log.
    """
    if isinstance(e, st.Unavailable):
        return errors.Unavailable(f"storage unavailable: {e}")
    if isinstance(e, st.TooLarge):
        return errors.RequestEntityTooLarge(f"Request entity too large: {e}")
    log.warning("storage error: %s", e)
    return errors.ApiError(f"storage error: {e}")


def api_error(e: errors.ApiError | st.StorageError) -> errors.ApiError:
    return e if isinstance(e, errors.ApiError) else storage_error(e)


# The most of a message a status carries. gRPC sends it in a trailer, percent-encoded (a byte outside printable
# ASCII, or `%`, takes three), and a client drops a call whose metadata passes its limit (8 KiB soft, 16 KiB
# hard) as RESOURCE_EXHAUSTED "metadata size exceeds hard limit": a message echoing a 10,000-character name
# turned an Invalid into a TooManyRequests.
MAX_STATUS_MESSAGE = 6000


def _encoded_size(data: bytes) -> int:
    return len(data) + 2 * sum(1 for b in data if b < 0x20 or b > 0x7E or b == 0x25)


def fit_message(message: str) -> str:
    """`message`, cut to what a status can carry (whatever the registry made of a hostile value)."""
    data = message.encode()
    if _encoded_size(data) <= MAX_STATUS_MESSAGE:
        return message
    keep = MAX_STATUS_MESSAGE // 3        # at most three bytes on the wire per byte kept
    while keep < len(data) and _encoded_size(data[:keep * 2]) <= MAX_STATUS_MESSAGE:
        keep *= 2                         # mostly ASCII: more fits
    return data[:keep].decode(errors="ignore") + "..."


async def abort(context: grpc.aio.ServicerContext, err: errors.ApiError) -> None:
    """End a call with `err`: its code, its reason in the trailers, its message as far as it fits."""
    await context.abort(err.code, fit_message(err.message), trailing_metadata=((errors.REASON_KEY, err.reason),))


# kube-apiserver's registry refuses a name in a request's path that could not be a key
# (k8s.io/apiserver's NamespaceKeyFunc: "Name parameter invalid"); no object's name is longer than 253
# characters (a DNS subdomain), so a longer one is refused here too, before it becomes an etcd key
# (etcd refuses a request over 1.5 MiB as RESOURCE_EXHAUSTED).
MAX_NAME_LENGTH = 253


def path_segment_problems(name: str) -> list[str]:
    """k8s.io/apimachinery's IsValidPathSegmentName, and the length no stored name exceeds."""
    problems = []
    if name in (".", ".."):
        problems.append(f"may not be '{name}'")
    problems += [f"may not contain '{c}'" for c in "/%" if c in name]
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"must be no more than {MAX_NAME_LENGTH} characters")
    return problems


def check_path(namespace: str, name: str) -> None:
    """A request naming an object (get, patch, delete, bind, evict, the streams): BadRequest for a name or
    namespace no object can have."""
    for what, value in (("Namespace", namespace), ("Name", name)):
        if value and (problems := path_segment_problems(value)):
            shown = value if len(value) <= MAX_NAME_LENGTH else value[:MAX_NAME_LENGTH] + "..."
            raise errors.BadRequest(f'{what} parameter invalid: "{shown}": {"; ".join(problems)}')
