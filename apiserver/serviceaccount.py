"""ServiceAccount tokens and the ServiceAccount admission of pods, as kube-apiserver has them.

Sits beside the authenticator (apiserver/auth.py asks `TokenAuthority.authenticate` about a bearer token
that is no static one) and under the API's handlers (apiserver/server.py's CreateToken, the HTTP API's
`serviceaccounts/token` subresource, and pod creation, which `admit_pod` mutates). Owns:

- **bound tokens**: JWTs signed with the key of `--service-account-signing-key-file` (ES256 for the lab's EC
  keys, RS256 for RSA ones, as kube-apiserver picks), with Kubernetes' claims: iss, sub
  `system:serviceaccount:NS:NAME`, aud, exp, iat, nbf, jti and `kubernetes.io` (namespace, serviceaccount
  name/uid, and for a pod-bound token the pod's name/uid and its node's). `claims` and `validate_claims`
  are pure; `TokenAuthority` adds the key and the cache look-ups.
- **authentication**: a token is accepted only with a good signature from one of the keys, the issuer, one
  of the API audiences, inside [nbf, exp], and while what it is bound to is still there: the
  ServiceAccount with the same uid, and for a pod-bound token the pod with the same uid. Anything else is
  None (the front ends answer 401 Unauthorized, never saying why: that goes to the log, never the token).
- **TokenRequest** (`token_request`): Kubernetes' validation (expirationSeconds at least 10 minutes,
  boundObjectRef a Pod of that ServiceAccount, its uid if given) and the answer's fields.
- **admission** (`admit_pod`): serviceAccountName defaults to `default`; unless automounting is off (the pod's
  field wins over the ServiceAccount's) the pod gets the projected `kube-api-access-xxxxx` volume (token,
  ca.crt from the kube-root-ca.crt ConfigMap, namespace) mounted read-only at MOUNT_PATH in every container
  that has nothing mounted there. The token is never in the spec: the kubelet asks for it.
"""
from __future__ import annotations

import base64
from collections import OrderedDict
import hashlib
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kubelab import errors, timeutil
from kubelab.v1 import objects_pb2 as pb

from .auth import AUTHENTICATED, Extra, UserInfo

log = logging.getLogger(__name__)

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
DEFAULT_SERVICE_ACCOUNT = "default"
SA_PREFIX = "system:serviceaccount:"
SA_GROUP = "system:serviceaccounts"

MIN_EXPIRATION = 600              # "may not specify a duration less than 10 minutes"
MAX_EXPIRATION = 1 << 32          # Kubernetes' upper bound on expirationSeconds
DEFAULT_EXPIRATION = 3600         # a TokenRequest without expirationSeconds
PROJECTED_EXPIRATION = 3607       # what the admission writes into the projected volume (Kubernetes' value)
DEFAULT_MODE = 0o644              # 420: the projected volume's defaultMode, written explicitly as Kubernetes does

# utilrand.String's alphabet: no vowels, no look-alikes (no bad words, no 0/O, 1/l).
_RAND_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def service_account_user(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


def split_username(username: str) -> tuple[str, str] | None:
    """(namespace, name) of `system:serviceaccount:NS:NAME`, or None."""
    if not username.startswith(SA_PREFIX):
        return None
    parts = username[len(SA_PREFIX):].split(":")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


def user_info(namespace: str, name: str, uid: str, extra: Extra = ()) -> UserInfo:
    """A ServiceAccount's user: its name, its groups, as kube-apiserver makes them."""
    return UserInfo(service_account_user(namespace, name), uid,
                    (SA_GROUP, f"{SA_GROUP}:{namespace}", AUTHENTICATED), extra)


def token_extra(bound: "Bound", jti: str) -> Extra:
    """The user's `extra` from a bound token, as kube-apiserver's ServiceAccount authenticator sets it (keys
    sorted, as Go writes a map): the credential id (`JTI=<jti>`), the node and the pod it is bound to."""
    pairs = {"authentication.kubernetes.io/credential-id": f"JTI={jti}" if jti else "",
             "authentication.kubernetes.io/node-name": bound.node_name,
             "authentication.kubernetes.io/node-uid": bound.node_uid,
             "authentication.kubernetes.io/pod-name": bound.pod_name,
             "authentication.kubernetes.io/pod-uid": bound.pod_uid}
    return tuple((k, (v,)) for k, v in sorted(pairs.items()) if v)


# ---------------------------------------------------------------- claims (pure)
@dataclass(frozen=True)
class Bound:
    """What a token is bound to: its ServiceAccount and, for a pod-bound one, the pod (and its node)."""
    namespace: str
    sa_name: str
    sa_uid: str
    pod_name: str = ""
    pod_uid: str = ""
    node_name: str = ""
    node_uid: str = ""


def claims(issuer: str, audiences: Iterable[str], bound: Bound, now: int, expiration_seconds: int,
           jti: str = "") -> dict[str, Any]:
    """The claims of a bound token (k8s.io/kubernetes pkg/serviceaccount Claims)."""
    private: dict[str, Any] = {"namespace": bound.namespace,
                               "serviceaccount": {"name": bound.sa_name, "uid": bound.sa_uid}}
    if bound.pod_name:
        private["pod"] = {"name": bound.pod_name, "uid": bound.pod_uid}
        if bound.node_name:
            private["node"] = {"name": bound.node_name, "uid": bound.node_uid}
    return {"aud": list(audiences), "exp": now + expiration_seconds, "iat": now, "nbf": now,
            "iss": issuer, "jti": jti or str(uuid.uuid4()),
            "kubernetes.io": private, "sub": service_account_user(bound.namespace, bound.sa_name)}


class InvalidToken(Exception):
    """Why a token is refused (for the log: the client hears only Unauthorized)."""


def validate_claims(c: Mapping[str, Any], issuers: Iterable[str], audiences: Iterable[str], now: float) -> Bound:
    """The binding of a token whose signature was checked: issuer, audience, time window and the
    `kubernetes.io` claims, or InvalidToken."""
    if c.get("iss") not in set(issuers):
        raise InvalidToken(f"issuer {c.get('iss')!r} is not accepted")
    aud = c.get("aud")
    aud = [aud] if isinstance(aud, str) else list(aud or [])
    if not set(aud) & set(audiences):
        raise InvalidToken("token audiences are not accepted")
    exp, nbf = c.get("exp"), c.get("nbf", c.get("iat"))
    if not isinstance(exp, (int, float)) or now >= exp:
        raise InvalidToken("token has expired")
    if isinstance(nbf, (int, float)) and now < nbf:
        raise InvalidToken("token is not valid yet")
    k8s = c.get("kubernetes.io")
    if not isinstance(k8s, dict):
        raise InvalidToken("token has no kubernetes.io claims")
    sa = k8s.get("serviceaccount") or {}
    ns, name, uid = k8s.get("namespace"), sa.get("name"), sa.get("uid")
    if not (isinstance(ns, str) and isinstance(name, str) and ns and name):
        raise InvalidToken("token names no service account")
    if c.get("sub") != service_account_user(ns, name):
        raise InvalidToken("token subject does not match its service account")
    pod = k8s.get("pod") or {}
    node = k8s.get("node") or {}
    return Bound(ns, name, str(uid or ""), str(pod.get("name") or ""), str(pod.get("uid") or ""),
                 str(node.get("name") or ""), str(node.get("uid") or ""))


# ---------------------------------------------------------------- keys
def _algorithm(key: Any) -> str:
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}[key.curve.name]
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RS256"
    raise ValueError("a service account key must be an RSA or ECDSA key")


def key_id(public_key: Any) -> str:
    """kube-apiserver's keyIDFromPublicKey: base64url(SHA-256(the DER public key)), unpadded."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def new_signing_key() -> bytes:
    """A fresh EC P-256 private key, PEM (the lab's launchers write it beside the CA as sa.key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(private_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_keys(pem: bytes) -> list[Any]:
    """Every public key in a PEM file (public keys, certificates or private keys, as
    --service-account-key-file takes them)."""
    from cryptography import x509
    keys: list[Any] = []
    for block in pem.split(b"-----END ")[:-1]:
        begin = block.rfind(b"-----BEGIN ")
        label = block[begin + 11:block.index(b"-----", begin + 11)]
        text = block[begin:] + b"-----END " + label + b"-----\n"
        if label == b"CERTIFICATE":
            keys.append(x509.load_pem_x509_certificate(text).public_key())
        elif b"PRIVATE KEY" in label:
            keys.append(serialization.load_pem_private_key(text, password=None).public_key())
        elif b"PUBLIC KEY" in label:
            keys.append(serialization.load_pem_public_key(text))
    if not keys:
        raise ValueError("no public key found")
    return keys


# ---------------------------------------------------------------- the authority
# get(kind, namespace, name) -> the cached object or None (the watch cache, as the authorizers read it).
Get = Callable[[str, str, str], Any]


@dataclass
class TokenAuthority:
    """Signs bound tokens and authenticates them (the apiserver's one per process)."""
    signing_key_pem: bytes = field(repr=False)      # a credential: never in a repr or a log line
    get: Get
    issuer: str = DEFAULT_ISSUER
    audiences: tuple[str, ...] = ()                 # --api-audiences (default: the issuer)
    extra_public_pems: tuple[bytes, ...] = ()       # --service-account-key-file
    clock: Callable[[], float] = time.time
    algorithm: str = field(init=False)              # ES256 for the lab's EC keys, RS256 for RSA ones
    kid: str = field(init=False)                    # the JWT header's key id, as kube-apiserver computes it
    _private: Any = field(init=False, repr=False)
    _public: dict[str, Any] = field(init=False, repr=False)
    # Payloads whose signature verified, by token (bounded, oldest out): a signature check is the costly part
    # of authenticating (an EC verify per request), and a token's signature cannot change. Claims (expiry,
    # audience) and what the token is bound to are still checked on every request.
    _verified: "OrderedDict[str, dict[str, Any]]" = field(init=False, repr=False, default_factory=OrderedDict)
    verified_cache_size: int = 4096

    def __post_init__(self) -> None:
        self._private = serialization.load_pem_private_key(self.signing_key_pem, password=None)
        self.algorithm = _algorithm(self._private)
        self.kid = key_id(self._private.public_key())
        pubs = [self._private.public_key()] + [k for pem in self.extra_public_pems for k in load_public_keys(pem)]
        self._public = {key_id(k): k for k in pubs}
        self.audiences = tuple(self.audiences) or (self.issuer,)

    # ------------------------------------------------------------ signing
    def sign(self, c: Mapping[str, Any]) -> str:
        return jwt.encode(dict(c), self._private, algorithm=self.algorithm, headers={"kid": self.kid})

    def issue(self, bound: Bound, audiences: Iterable[str], expiration_seconds: int) -> tuple[str, int]:
        """(token, expiry as Unix seconds)."""
        c = claims(self.issuer, audiences, bound, int(self.clock()), expiration_seconds)
        return self.sign(c), int(c["exp"])

    # ------------------------------------------------------------ authentication
    def authenticate(self, token: str) -> UserInfo | None:
        """The ServiceAccount user of a valid bound token, or None (not ours, forged, expired, another
        audience, or bound to something gone)."""
        if token.count(".") != 2:
            return None                      # not a JWT: some other authenticator's token
        try:
            payload = self._verified.get(token)
            if payload is None:
                payload = self._verify_signature(token)
                self._verified[token] = payload
                if len(self._verified) > self.verified_cache_size:
                    self._verified.popitem(last=False)
            bound = validate_claims(payload, (self.issuer,), self.audiences, self.clock())
            return self._still_bound(bound, str(payload.get("jti") or ""))
        except jwt.PyJWTError as e:
            log.info("service account token refused: %s", e)
        except InvalidToken as e:
            log.info("service account token refused: %s", e)
        return None

    def _verify_signature(self, token: str) -> dict[str, Any]:
        """The token's payload if one of our keys signed it (claims not yet checked), else InvalidToken."""
        header = jwt.get_unverified_header(token)
        key = self._public.get(str(header.get("kid", ""))) if header.get("kid") else None
        for k in [key] if key is not None else list(self._public.values()):
            try:
                return dict(jwt.decode(token, k, algorithms=[_algorithm(k)],
                                       options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                                "verify_aud": False, "verify_iss": False}))
            except jwt.InvalidSignatureError:
                continue
        raise InvalidToken("signature does not verify with any service account key")

    def _still_bound(self, b: Bound, jti: str = "") -> UserInfo:
        sa = self.get("ServiceAccount", b.namespace, b.sa_name)
        if sa is None or sa.metadata.deletion_timestamp:
            raise InvalidToken(f"service account {b.namespace}/{b.sa_name} has been deleted")
        if b.sa_uid and sa.metadata.uid != b.sa_uid:
            raise InvalidToken(f"service account UID ({b.sa_uid}) does not match the service account's "
                               f"({sa.metadata.uid})")
        if b.pod_name:
            pod = self.get("Pod", b.namespace, b.pod_name)
            if pod is None or pod.metadata.deletion_timestamp:
                raise InvalidToken(f"pod {b.namespace}/{b.pod_name} has been deleted")
            if pod.metadata.uid != b.pod_uid:
                raise InvalidToken(f"pod UID ({b.pod_uid}) does not match the pod's ({pod.metadata.uid})")
        return user_info(b.namespace, b.sa_name, sa.metadata.uid, token_extra(b, jti))


# ---------------------------------------------------------------- TokenRequest
@dataclass(frozen=True)
class TokenAsk:
    """A TokenRequest's spec, as both front ends parse it."""
    namespace: str
    name: str
    audiences: tuple[str, ...] = ()
    expiration_seconds: int | None = None
    bound_kind: str = ""
    bound_api_version: str = ""
    bound_name: str = ""
    bound_uid: str = ""


def validate_ask(ask: TokenAsk) -> None:
    """Kubernetes' ValidateTokenRequest: Invalid in its words."""
    problems = []
    exp = ask.expiration_seconds
    if exp is not None and exp < MIN_EXPIRATION:
        problems.append(f"spec.expirationSeconds: Invalid value: {exp}: may not specify a duration less than "
                        f"10 minutes")
    elif exp is not None and exp > MAX_EXPIRATION:
        problems.append(f"spec.expirationSeconds: Invalid value: {exp}: may not specify a duration larger than "
                        f"2^32 seconds")
    if ask.bound_kind and ask.bound_kind != "Pod":
        problems.append(f'spec.boundObjectRef.kind: Unsupported value: "{ask.bound_kind}": supported values: '
                        f'"Pod"')
    if ask.bound_kind and not ask.bound_name:
        problems.append("spec.boundObjectRef.name: Required value")
    if problems:
        head = f'TokenRequest.authentication.k8s.io "{ask.name}" is invalid: '
        raise errors.Invalid(head + ("[" + ", ".join(problems) + "]" if len(problems) > 1 else problems[0]))


def bind_ask(ask: TokenAsk, sa: Any, pod: Any | None, node: Any | None) -> Bound:
    """What the token will be bound to, once the ServiceAccount (and the pod) were found; Kubernetes'
    refusals of a pod of another ServiceAccount (BadRequest) or of another uid (Conflict)."""
    if pod is None:
        return Bound(ask.namespace, ask.name, sa.metadata.uid)
    if (pod.spec.service_account_name or DEFAULT_SERVICE_ACCOUNT) != ask.name:
        raise errors.BadRequest(f'cannot bind token for serviceaccount "{ask.name}" to pod running with '
                                f'different serviceaccount name.')
    if ask.bound_uid and ask.bound_uid != pod.metadata.uid:
        raise errors.Conflict(f'Operation cannot be fulfilled on Pod "{ask.bound_name}": the UID in the bound '
                              f'object reference ({ask.bound_uid}) does not match the UID in record. The object '
                              f'might have been deleted and then recreated')
    node_name = pod.spec.node_name
    return Bound(ask.namespace, ask.name, sa.metadata.uid, pod.metadata.name, pod.metadata.uid, node_name,
                 node.metadata.uid if node is not None else "")


def token_ask_of(req: Any) -> TokenAsk:
    """A gRPC TokenRequest as a TokenAsk."""
    ref = req.bound_object_ref
    return TokenAsk(req.namespace, req.name, tuple(req.audiences),
                    req.expiration_seconds if req.HasField("expiration_seconds") else None,
                    ref.kind, ref.api_version, ref.name, ref.uid)


def token_ask_from_doc(doc: Any, namespace: str, name: str) -> TokenAsk:
    """An authentication.k8s.io/v1 TokenRequest body (the HTTP API's) as a TokenAsk, or BadRequest."""
    if not isinstance(doc, dict):
        raise errors.BadRequest("the request body must be a TokenRequest object")
    if doc.get("kind", "TokenRequest") != "TokenRequest":
        raise errors.BadRequest(f'{doc.get("kind")} in version "v1" cannot be handled as a TokenRequest')
    spec = doc.get("spec") or {}
    if not isinstance(spec, dict):
        raise errors.BadRequest("TokenRequest in version \"v1\" cannot be handled as a TokenRequest: spec: "
                                "expected an object")
    auds = spec.get("audiences") or []
    exp = spec.get("expirationSeconds")
    ref = spec.get("boundObjectRef") or {}
    if not isinstance(auds, list) or not all(isinstance(a, str) for a in auds) \
            or (exp is not None and (isinstance(exp, bool) or not isinstance(exp, int))) or not isinstance(ref, dict):
        raise errors.BadRequest("TokenRequest in version \"v1\" cannot be handled as a TokenRequest: spec has a "
                                "field of the wrong type")
    return TokenAsk(namespace, name, tuple(auds), exp, str(ref.get("kind") or ""), str(ref.get("apiVersion") or ""),
                    str(ref.get("name") or ""), str(ref.get("uid") or ""))


def token_request_doc(ask: TokenAsk, audiences: Iterable[str], token: str, expires: int,
                      expiration_seconds: int) -> dict[str, Any]:
    """The TokenRequest the HTTP API answers with (status.token is the only place a token is ever written)."""
    spec: dict[str, Any] = {"audiences": list(audiences), "expirationSeconds": expiration_seconds,
                            "boundObjectRef": None}
    if ask.bound_kind:
        spec["boundObjectRef"] = {"kind": ask.bound_kind, "apiVersion": ask.bound_api_version or "v1",
                                  "name": ask.bound_name, "uid": ask.bound_uid}
    return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": ask.name, "namespace": ask.namespace, "creationTimestamp": None},
            "spec": spec, "status": {"token": token, "expirationTimestamp": timeutil.fmt(expires)}}


# ---------------------------------------------------------------- admission of pods
def should_automount(pod_spec: Any, sa: Any) -> bool:
    """The pod's automountServiceAccountToken wins, then the ServiceAccount's; default true."""
    if pod_spec.HasField("automount_service_account_token"):
        return bool(pod_spec.automount_service_account_token)
    if sa is not None and sa.HasField("automount_service_account_token"):
        return bool(sa.automount_service_account_token)
    return True


def random_suffix(n: int = 5) -> str:
    """A name suffix (utilrand.String): unique enough, not a secret, so not from the OS's entropy pool."""
    return "".join(random.choices(_RAND_ALPHABET, k=n))


def token_volume(volume: Any, name: str) -> None:
    """Fill `volume` (a pb.Volume) with Kubernetes' kube-api-access projected source."""
    volume.name = name
    p = volume.projected
    p.default_mode = DEFAULT_MODE
    tok = p.sources.add().service_account_token
    tok.expiration_seconds, tok.path = PROJECTED_EXPIRATION, "token"
    cm = p.sources.add().config_map
    cm.name = ROOT_CA_CONFIGMAP
    cm.items.add(key="ca.crt", path="ca.crt")
    item = p.sources.add().downward_api.items.add(path="namespace")
    item.field_ref.api_version, item.field_ref.field_path = "v1", "metadata.namespace"


def _token_volume_prototype() -> Any:
    v = pb.Volume()
    token_volume(v, VOLUME_PREFIX)
    return v


_TOKEN_VOLUME = _token_volume_prototype()


def admit_pod(pod: Any, sa: Any, suffix: str | None = None) -> None:
    """Kubernetes' ServiceAccount admission on a pod being created, whose ServiceAccount `sa` exists."""
    spec = pod.spec
    if not spec.service_account_name:
        spec.service_account_name = spec.service_account or DEFAULT_SERVICE_ACCOUNT
    spec.service_account = spec.service_account_name          # the deprecated field mirrors it, as defaulted
    if not should_automount(spec, sa):
        return
    containers = list(spec.init_containers) + list(spec.containers)
    needing = [c for c in containers if not any(m.mount_path == MOUNT_PATH for m in c.volume_mounts)]
    if not needing:
        return
    # A volume of that name already there (a pod made from another's YAML) is reused, as Kubernetes does.
    name = next((v.name for v in spec.volumes if v.name.startswith(VOLUME_PREFIX)), "")
    if not name:
        existing = {v.name for v in spec.volumes}
        name = VOLUME_PREFIX + (suffix or random_suffix())
        while name in existing:
            name = VOLUME_PREFIX + random_suffix()
        volume = spec.volumes.add()
        volume.CopyFrom(_TOKEN_VOLUME)        # one copy of a prototype: every pod created pays this
        volume.name = name
    for c in needing:
        c.volume_mounts.add(name=name, read_only=True, mount_path=MOUNT_PATH)


def missing_service_account(pod_name: str, namespace: str, sa_name: str, generated: bool) -> errors.Forbidden:
    """Kubernetes' refusal of a pod whose ServiceAccount does not exist (admission.NewForbidden)."""
    head = f'pods "{pod_name}" is forbidden' if pod_name and not generated else "pods is forbidden"
    return errors.Forbidden(f'{head}: error looking up service account {namespace}/{sa_name}: serviceaccount '
                            f'"{sa_name}" not found')


__all__ = ["TokenAuthority", "Bound", "TokenAsk", "claims", "validate_claims", "InvalidToken", "admit_pod",
           "should_automount", "validate_ask", "bind_ask", "token_ask_of", "token_ask_from_doc", "token_request_doc",
           "missing_service_account", "new_signing_key", "public_pem", "user_info", "MOUNT_PATH", "DEFAULT_ISSUER",
           "MIN_EXPIRATION", "DEFAULT_EXPIRATION", "PROJECTED_EXPIRATION", "split_username"]
