"""Docker image references, parsed as Docker's distribution/reference does (`ParseNormalizedNamed`), with its
error words: shared by the apiserver (which refuses a reference Docker could not pull, naming the field) and the
kubelets (which show `InvalidImageName` for one that reaches them anyway, and normalise names for the lab
registry's mirror). Written once, here: the grammar is distribution/reference's regexp.go, the normalisation its
normalize.go.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255

# distribution/reference's grammar (regexp.go), anchored.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_ANCHORED_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


class InvalidReference(ValueError):
    """A reference Docker's parser refuses; str() is its message."""


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def _split_docker_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    first = name[:i] if i >= 0 else ""
    if i < 0 or (not any(ch in first for ch in ".:") and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[i + 1:]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def _check_digest(d: str) -> None:
    algorithm, _, hexpart = d.partition(":")
    if algorithm not in _DIGEST_LENGTHS:
        raise InvalidReference("unsupported digest algorithm")
    if len(hexpart) != _DIGEST_LENGTHS[algorithm]:
        raise InvalidReference("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", hexpart):
        raise InvalidReference("invalid checksum digest format")


def parse(s: str) -> Reference:
    """distribution/reference.Parse: the grammar, with its error words."""
    m = _REFERENCE.match(s)
    if m is None:
        if not s:
            raise InvalidReference("repository name must have at least one component")
        if _REFERENCE.match(s.lower()):
            raise InvalidReference("invalid reference format: repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    name, tag, dig = m.group(1), m.group(2) or "", m.group(3) or ""
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    if dig:
        _check_digest(dig)
    domain, _, path = name.partition("/") if "/" in name else ("", "", name)
    return Reference(domain, path, tag, dig)


def parse_normalized(s: str) -> Reference:
    """distribution/reference.ParseNormalizedNamed: `nginx` → docker.io/library/nginx."""
    if _ANCHORED_IDENTIFIER.match(s):
        raise InvalidReference(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_docker_domain(s)
    remote = remainder.split(":", 1)[0] if ":" in remainder else remainder
    if remote.lower() != remote:
        raise InvalidReference(f"invalid reference format: repository name ({remote}) must be lowercase")
    ref = parse(f"{domain}/{remainder}")
    return Reference(domain, ref.name[len(domain) + 1:], ref.tag, ref.digest)


def with_default_tag(image: str) -> Reference:
    """The kubelet's applyDefaultImageTag: the normalised reference, `:latest` when it has no tag or digest.
    Raises InvalidReference with the kubelet's message."""
    try:
        ref = parse_normalized(image)
    except InvalidReference as e:
        raise InvalidReference(f'Failed to apply default image tag "{image}": '
                               f'couldn\'t parse image reference "{image}": {e}') from None
    if not ref.tag and not ref.digest:
        ref = Reference(ref.domain, ref.path, "latest", "")
    return ref
