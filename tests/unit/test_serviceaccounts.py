"""ServiceAccount tokens, pure parts: claims, validation, TokenRequest checks, the pod admission, the kubelet's
refresh decision and file writing, the Node authorizer's rule, the controller's decision, kubectl's flags."""
from __future__ import annotations

import io
import tarfile
from typing import Any

import jwt
import pytest

from apiserver import serviceaccount as sat
from apiserver.auth import Authenticator
from apiserver.authz import node as node_authz
from apiserver.authz.rbac import Attributes
from apiserver.auth import UserInfo
from controller_manager.serviceaccount import missing
from kubectl.context import CLIError
from kubectl.create_rbac import token_options
from kubelab import errors, timeutil
from kubelab.client import new_object
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import objects_pb2 as pb
from kubelet import token_manager as tm
from kubelet.volumes import projected_files, projection_archive, swap_command

NOW = 1_800_000_000


def sa(name: str = "default", ns: str = "default", uid: str = "sa-uid") -> pb.ServiceAccount:
    obj = new_object("ServiceAccount", name, ns)
    obj.metadata.uid = uid
    return obj


def pod(name: str = "web", ns: str = "default", uid: str = "pod-uid", sa_name: str = "", node: str = "n1") -> pb.Pod:
    p = new_object("Pod", name, ns)
    p.metadata.uid = uid
    p.spec.service_account_name = sa_name
    p.spec.node_name = node
    p.spec.containers.add(name="app", image="nginx")
    return p


class World:
    """What the token authority looks up: the watch cache's objects by (kind, namespace, name)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Any] = {}
        self.now = float(NOW)

    def put(self, obj: Any) -> Any:
        self.objects[(obj.kind, obj.metadata.namespace, obj.metadata.name)] = obj
        return obj

    def get(self, kind: str, ns: str, name: str) -> Any:
        return self.objects.get((kind, ns, name))


@pytest.fixture
def world() -> World:
    w = World()
    w.put(sa())
    w.put(pod())
    return w


@pytest.fixture
def authority(world: World) -> sat.TokenAuthority:
    return sat.TokenAuthority(sat.new_signing_key(), world.get, clock=lambda: world.now)


# ------------------------------------------------------------------ claims
def test_a_pod_bound_token_has_kubernetes_claims(authority: sat.TokenAuthority) -> None:
    bound = sat.Bound("default", "default", "sa-uid", "web", "pod-uid", "n1", "node-uid")
    token, expires = authority.issue(bound, ["api"], 3600)
    header = jwt.get_unverified_header(token)
    c = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "ES256" and header["kid"] == authority.kid
    assert c["iss"] == sat.DEFAULT_ISSUER and c["sub"] == "system:serviceaccount:default:default"
    assert c["aud"] == ["api"] and c["iat"] == c["nbf"] == NOW and c["exp"] == expires == NOW + 3600
    assert c["kubernetes.io"] == {"namespace": "default", "serviceaccount": {"name": "default", "uid": "sa-uid"},
                                  "pod": {"name": "web", "uid": "pod-uid"}, "node": {"name": "n1", "uid": "node-uid"}}
    assert c["jti"]


def test_a_token_not_bound_to_a_pod_names_only_its_service_account() -> None:
    c = sat.claims("iss", ["a"], sat.Bound("ns", "robot", "u"), NOW, 600)
    assert c["kubernetes.io"] == {"namespace": "ns", "serviceaccount": {"name": "robot", "uid": "u"}}


# ------------------------------------------------------------------ authentication
def test_a_valid_token_is_its_service_account(authority: sat.TokenAuthority) -> None:
    token, _ = authority.issue(sat.Bound("default", "default", "sa-uid", "web", "pod-uid"), [sat.DEFAULT_ISSUER], 3600)
    user = authority.authenticate(token)
    assert user is not None
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    # kube-apiserver's extra for a pod-bound token: the credential id and the pod (keys sorted, as Go's map)
    assert user == UserInfo("system:serviceaccount:default:default", "sa-uid",
                            ("system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"),
                            (("authentication.kubernetes.io/credential-id", (f"JTI={jti}",)),
                             ("authentication.kubernetes.io/pod-name", ("web",)),
                             ("authentication.kubernetes.io/pod-uid", ("pod-uid",))))


def test_extra_names_the_node_of_a_node_bound_token() -> None:
    bound = sat.Bound("default", "default", "sa-uid", "web", "pod-uid", "node1", "node-uid")
    assert dict(sat.token_extra(bound, "")) == {"authentication.kubernetes.io/node-name": ("node1",),
                                                "authentication.kubernetes.io/node-uid": ("node-uid",),
                                                "authentication.kubernetes.io/pod-name": ("web",),
                                                "authentication.kubernetes.io/pod-uid": ("pod-uid",)}
    assert sat.token_extra(sat.Bound("default", "default", "sa-uid"), "") == ()


def test_the_authenticator_knows_service_account_tokens_besides_static_ones(authority: sat.TokenAuthority) -> None:
    token, _ = authority.issue(sat.Bound("default", "default", "sa-uid"), [sat.DEFAULT_ISSUER], 3600)
    authn = Authenticator("admin-token", {}, authority.authenticate)
    assert authn.authenticate(token).name == "system:serviceaccount:default:default"      # type: ignore[union-attr]
    assert authn.authenticate("admin-token").name == "admin"                              # type: ignore[union-attr]
    assert authn.authenticate(token[:-4] + "AAAA") is None


def _refused(authority: sat.TokenAuthority, token: str) -> None:
    assert authority.authenticate(token) is None


def test_a_forged_token_is_refused(authority: sat.TokenAuthority, world: World) -> None:
    other = sat.TokenAuthority(sat.new_signing_key(), world.get, clock=lambda: world.now)
    forged, _ = other.issue(sat.Bound("default", "default", "sa-uid"), [sat.DEFAULT_ISSUER], 3600)
    _refused(authority, forged)
    # the right key id on another key's signature, and an unsigned token, likewise
    c = jwt.decode(forged, options={"verify_signature": False})
    _refused(authority, jwt.encode(c, other._private, algorithm="ES256", headers={"kid": authority.kid}))
    _refused(authority, jwt.encode(c, None, algorithm="none"))           # type: ignore[arg-type]


def test_an_expired_or_not_yet_valid_token_is_refused(authority: sat.TokenAuthority, world: World) -> None:
    token, expires = authority.issue(sat.Bound("default", "default", "sa-uid"), [sat.DEFAULT_ISSUER], 600)
    world.now = expires - 1
    assert authority.authenticate(token) is not None
    world.now = expires
    _refused(authority, token)
    world.now = NOW - 10
    _refused(authority, token)


def test_a_token_for_another_audience_or_issuer_is_refused(authority: sat.TokenAuthority, world: World) -> None:
    token, _ = authority.issue(sat.Bound("default", "default", "sa-uid"), ["https://vault.example"], 3600)
    _refused(authority, token)
    c = sat.claims("https://other-issuer", [sat.DEFAULT_ISSUER], sat.Bound("default", "default", "sa-uid"), NOW, 600)
    _refused(authority, authority.sign(c))


def test_a_pod_bound_token_dies_with_its_pod(authority: sat.TokenAuthority, world: World) -> None:
    token, _ = authority.issue(sat.Bound("default", "default", "sa-uid", "web", "pod-uid"), [sat.DEFAULT_ISSUER], 3600)
    assert authority.authenticate(token) is not None
    world.put(pod(uid="another-uid"))                  # deleted and made again under the same name
    _refused(authority, token)
    del world.objects[("Pod", "default", "web")]
    _refused(authority, token)
    p = world.put(pod())
    p.metadata.deletion_timestamp = "2026-12-03T00:00:00Z"
    _refused(authority, token)


def test_a_tokens_signature_is_checked_once_and_its_claims_on_every_request(
        authority: sat.TokenAuthority, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Verified payloads are kept (a signature check per request was the cost of in-cluster clients); the
    tests above show expiry and the pod's deletion still refuse a token that was accepted before."""
    checks: list[str] = []
    real_decode = sat.jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        checks.append(token)
        return real_decode(token, *args, **kwargs)
    monkeypatch.setattr(sat.jwt, "decode", counting_decode)
    token, expires = authority.issue(sat.Bound("default", "default", "sa-uid"), [sat.DEFAULT_ISSUER], 3600)
    for _ in range(3):
        assert authority.authenticate(token) is not None
    assert checks == [token]
    forged = sat.TokenAuthority(sat.new_signing_key(), world.get, clock=lambda: world.now).issue(
        sat.Bound("default", "default", "sa-uid"), [sat.DEFAULT_ISSUER], 3600)[0]
    for _ in range(2):
        _refused(authority, forged)
    assert checks.count(forged) == 2                  # a refused token is not kept: checked each time
    world.now = expires
    _refused(authority, token)


def test_a_token_dies_with_its_service_account(authority: sat.TokenAuthority, world: World) -> None:
    token, _ = authority.issue(sat.Bound("default", "default", "sa-uid"), [sat.DEFAULT_ISSUER], 3600)
    world.put(sa(uid="new-uid"))
    _refused(authority, token)
    del world.objects[("ServiceAccount", "default", "default")]
    _refused(authority, token)


def test_tokens_of_a_previous_key_are_accepted_while_its_public_key_is_given(world: World) -> None:
    old_key = sat.new_signing_key()
    old = sat.TokenAuthority(old_key, world.get, clock=lambda: world.now)
    token, _ = old.issue(sat.Bound("default", "default", "sa-uid"), [sat.DEFAULT_ISSUER], 3600)
    rotated = sat.TokenAuthority(sat.new_signing_key(), world.get, clock=lambda: world.now,
                                 extra_public_pems=(sat.public_pem(old_key),))
    assert rotated.authenticate(token) is not None
    assert sat.TokenAuthority(sat.new_signing_key(), world.get, clock=lambda: world.now).authenticate(token) is None


# ------------------------------------------------------------------ TokenRequest
def test_a_token_request_shorter_than_ten_minutes_is_invalid() -> None:
    with pytest.raises(errors.Invalid, match=r'TokenRequest.authentication.k8s.io "default" is invalid: '
                                             r'spec.expirationSeconds: Invalid value: 599: may not specify a '
                                             r'duration less than 10 minutes'):
        sat.validate_ask(sat.TokenAsk("default", "default", expiration_seconds=599))
    sat.validate_ask(sat.TokenAsk("default", "default", expiration_seconds=600))
    with pytest.raises(errors.Invalid, match="boundObjectRef.kind"):
        sat.validate_ask(sat.TokenAsk("default", "default", bound_kind="Deployment", bound_name="x"))


def test_a_token_bound_to_a_pod_of_another_account_or_uid_is_refused() -> None:
    with pytest.raises(errors.BadRequest, match="different serviceaccount name"):
        sat.bind_ask(sat.TokenAsk("default", "robot", bound_kind="Pod", bound_name="web"), sa("robot"), pod(), None)
    with pytest.raises(errors.Conflict, match=r"the UID in the bound object reference \(old\) does not match"):
        sat.bind_ask(sat.TokenAsk("default", "default", bound_kind="Pod", bound_name="web", bound_uid="old"),
                     sa(), pod(), None)
    bound = sat.bind_ask(sat.TokenAsk("default", "default", bound_kind="Pod", bound_name="web"), sa(), pod(), None)
    assert (bound.pod_name, bound.pod_uid, bound.node_name) == ("web", "pod-uid", "n1")


def test_the_http_body_of_a_token_request_is_read_as_kubernetes_writes_it() -> None:
    ask = sat.token_ask_from_doc({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                  "spec": {"audiences": ["a"], "expirationSeconds": 600,
                                           "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web",
                                                              "uid": "u"}}}, "ns", "robot")
    assert ask == sat.TokenAsk("ns", "robot", ("a",), 600, "Pod", "v1", "web", "u")
    with pytest.raises(errors.BadRequest):
        sat.token_ask_from_doc({"spec": {"expirationSeconds": "ten"}}, "ns", "robot")
    req = api.TokenRequest(namespace="ns", name="robot", audiences=["a"], expiration_seconds=600)
    assert sat.token_ask_of(req) == sat.TokenAsk("ns", "robot", ("a",), 600)


def test_the_answer_carries_the_token_only_in_its_status() -> None:
    doc = sat.token_request_doc(sat.TokenAsk("ns", "robot"), ["a"], "TOKEN", NOW, 3600)
    assert doc["status"] == {"token": "TOKEN", "expirationTimestamp": "2027-01-15T08:00:00Z"}
    assert "TOKEN" not in str({k: v for k, v in doc.items() if k != "status"})


# ------------------------------------------------------------------ admission
def test_a_pod_gets_the_default_account_and_the_projected_token_volume() -> None:
    p = pod()
    p.spec.init_containers.add(name="init", image="busybox")
    sat.admit_pod(p, sa(), suffix="abcde")
    assert p.spec.service_account_name == p.spec.service_account == "default"
    (v,) = p.spec.volumes
    assert v.name == "kube-api-access-abcde" and v.projected.default_mode == 0o644
    token, cm, down = v.projected.sources
    assert (token.service_account_token.path, token.service_account_token.expiration_seconds) == ("token", 3607)
    assert cm.config_map.name == "kube-root-ca.crt" and [(i.key, i.path) for i in cm.config_map.items] == \
        [("ca.crt", "ca.crt")]
    assert [(i.path, i.field_ref.field_path) for i in down.downward_api.items] == [("namespace", "metadata.namespace")]
    for c in (*p.spec.init_containers, *p.spec.containers):
        assert [(m.name, m.mount_path, m.read_only) for m in c.volume_mounts] == \
            [("kube-api-access-abcde", sat.MOUNT_PATH, True)]


@pytest.mark.parametrize("pod_says,sa_says,mounted", [
    (None, None, True), (False, None, False), (None, False, False), (True, False, True), (False, True, False)])
def test_automounting_is_the_pods_choice_then_the_accounts(pod_says: bool | None, sa_says: bool | None,
                                                            mounted: bool) -> None:
    p, account = pod(), sa()
    if pod_says is not None:
        p.spec.automount_service_account_token = pod_says
    if sa_says is not None:
        account.automount_service_account_token = sa_says
    sat.admit_pod(p, account)
    assert bool(p.spec.volumes) is mounted
    assert bool(p.spec.containers[0].volume_mounts) is mounted


def test_a_container_with_its_own_mount_there_is_left_alone_and_a_pods_volume_is_reused() -> None:
    p = pod()
    p.spec.containers[0].volume_mounts.add(name="mine", mount_path=sat.MOUNT_PATH)
    p.spec.volumes.add(name="mine").empty_dir.SetInParent()
    sat.admit_pod(p, sa())
    assert [v.name for v in p.spec.volumes] == ["mine"]
    copy = pod()
    sat.admit_pod(copy, sa(), suffix="xyz12")
    again = pod()
    again.spec.volumes.extend(copy.spec.volumes)
    sat.admit_pod(again, sa())
    assert [v.name for v in again.spec.volumes] == ["kube-api-access-xyz12"]


def test_a_missing_account_is_refused_in_kubernetes_words() -> None:
    e = sat.missing_service_account("web", "default", "robot", False)
    assert isinstance(e, errors.Forbidden)
    assert e.message == 'pods "web" is forbidden: error looking up service account default/robot: serviceaccount ' \
                        '"robot" not found'


# ------------------------------------------------------------------ Node authorizer / NodeRestriction
NODE = UserInfo("system:node:n1", "", ("system:nodes", "system:authenticated"))


def test_a_kubelet_may_ask_tokens_only_for_accounts_of_its_pods() -> None:
    a = Attributes("create", "", "serviceaccounts", "token", "default", "default")
    on_n1 = lambda node, ns, name: (node, ns, name) == ("n1", "default", "default")   # noqa: E731
    assert node_authz.decide(NODE, a, lambda ns, n: None, on_n1)[0] is node_authz.Decision.ALLOW
    other = Attributes("create", "", "serviceaccounts", "token", "default", "robot")
    verdict, why = node_authz.decide(NODE, other, lambda ns, n: None, on_n1)
    assert verdict is node_authz.Decision.DENY and why == "no relationship found between node 'n1' and this object"


def test_node_restriction_wants_the_token_bound_to_a_pod_on_that_node() -> None:
    assert node_authz.restrict_token(NODE, "", None) == "node requested token not bound to a pod"
    assert node_authz.restrict_token(NODE, "Pod", "n2") == \
        "node requested token bound to a pod scheduled on a different node"
    assert node_authz.restrict_token(NODE, "Pod", "n1") == ""
    assert node_authz.restrict_token(UserInfo("alice"), "", None) == ""


# ------------------------------------------------------------------ the kubelet
def test_a_token_is_refreshed_at_eighty_percent_of_its_life_or_a_day() -> None:
    assert tm.refresh_at(0, 3600) == 2880
    assert tm.refresh_at(0, 3600, jitter=5) == 2875
    assert tm.refresh_at(0, 7 * 24 * 3600) == tm.MAX_TTL
    t = tm.Token("x", 1000, 4600)
    assert not tm.requires_refresh(t, 3879) and tm.requires_refresh(t, 3880) and tm.requires_refresh(None, 0)


async def test_the_token_manager_asks_once_until_the_token_is_due() -> None:
    calls: list[tuple[Any, ...]] = []
    now = [float(NOW)]

    async def create_token(*args: Any) -> api.TokenResponse:
        calls.append(args)
        return api.TokenResponse(token=f"t{len(calls)}", expiration_seconds=3607,
                                 expiration_timestamp=timeutil.fmt(int(now[0]) + 3607))
    m = tm.TokenManager(create_token, clock=lambda: now[0], jitter=lambda: 0.0)
    p = pod(sa_name="robot")
    projection = pb.ServiceAccountTokenProjection(path="token", expiration_seconds=3607)
    first = await m.token(p, projection)
    assert first.value == "t1" and calls == [("robot", "default", [], 3607, "Pod", "web", "pod-uid")]
    now[0] += 2885
    assert (await m.token(p, projection)).value == "t1"
    now[0] += 1
    assert (await m.token(p, projection)).value == "t2"
    m.forget("pod-uid")
    assert (await m.token(p, projection)).value == "t3"


def test_the_projected_files_are_the_token_the_ca_and_the_namespace() -> None:
    p = pod(ns="team")
    sat.admit_pod(p, sa(ns="team"))
    files = projected_files(p, p.spec.volumes[0].projected, "TOKEN", b"CA PEM")
    assert files == {"token": b"TOKEN", "ca.crt": b"CA PEM", "namespace": b"team"}
    from kubelet.docker_runtime import RuntimeError_
    with pytest.raises(RuntimeError_, match='configmap "kube-root-ca.crt" not found'):
        projected_files(p, p.spec.volumes[0].projected, "TOKEN", b"")


def test_files_go_in_under_hidden_names_and_are_renamed_over_the_old_ones() -> None:
    data = projection_archive({"token": b"T", "ca.crt": b"C", "sub/namespace": b"N"}, 0o644, now=NOW)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: (m.mode, tar.extractfile(m).read()) for m in tar.getmembers()}   # type: ignore[union-attr]
    assert members == {"..token.tmp": (0o644, b"T"), "..ca.crt.tmp": (0o644, b"C"), "sub/..namespace.tmp": (0o644, b"N")}
    cmd = swap_command("/.kubelab/volumes/v", ["token", "ca.crt"])
    assert cmd[:2] == ["sh", "-c"] and "mv -f" in cmd[2] and cmd[3:] == ["sh", "/.kubelab/volumes/v", "ca.crt", "token"]


# ------------------------------------------------------------------ the controller
def test_the_controller_makes_default_unless_there_or_the_namespace_is_going() -> None:
    ns = new_object("Namespace", "team")
    assert missing(ns, set()) == ["default"]
    assert missing(ns, {"default"}) == []
    assert missing(None, set()) == []
    ns.metadata.deletion_timestamp = "2026-12-03T00:00:00Z"
    assert missing(ns, set()) == []


# ------------------------------------------------------------------ kubectl create token's flags
def test_create_token_checks_its_flags_as_kubectl() -> None:
    assert token_options("10m", (), "", "", "") == 600
    assert token_options("", ("a",), "Pod", "web", "") is None
    for args, message in [(("-1s", (), "", "", ""), "--duration must be greater than or equal to 0"),
                          (("1500ms", (), "", "", ""), "--duration cannot be expressed in units less than seconds"),
                          (("", ("",), "", "", ""), "--audience must not be an empty string"),
                          (("", (), "", "web", ""), "--bound-object-name can only be set if --bound-object-kind is "
                                                    "provided"),
                          (("", (), "Pod", "", ""), "--bound-object-name is required if --bound-object-kind is "
                                                    "provided"),
                          (("", (), "Deployment", "x", ""), "supported --bound-object-kind values are Pod")]:
        with pytest.raises(CLIError, match=message):
            token_options(*args)


# ------------------------------------------------------------------ describe
def test_describe_shows_the_projected_volume_as_kubectl_does() -> None:
    from kubectl.describe import Writer, describe_volumes
    p = pod()
    sat.admit_pod(p, sa(), suffix="abcde")
    w = Writer()
    describe_volumes(w, p.spec.volumes, "")
    assert w.text() == ("Volumes:\n"
                        "  kube-api-access-abcde:\n"
                        "    Type:                    Projected (a volume that contains injected data from multiple "
                        "sources)\n"
                        "    TokenExpirationSeconds:  3607\n"
                        "    ConfigMapName:           kube-root-ca.crt\n"
                        "    Optional:                false\n"
                        "    DownwardAPI:             true\n")


# ------------------------------------------------------------------ the kubelet's volume manager
class FakeRuntime:
    """Docker as the volume manager uses it for projected volumes: archive uploads and execs, recorded."""

    def __init__(self) -> None:
        self.uploads: list[tuple[str, str, dict[str, bytes]]] = []
        self.execs: list[tuple[str, list[str]]] = []

    async def put_archive(self, cid: str, path: str, data: bytes) -> None:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}   # type: ignore[union-attr]
        self.uploads.append((cid, path, files))

    async def exec_run(self, cid: str, command: list[str], timeout: float) -> tuple[int, str]:
        self.execs.append((cid, command))
        return 0, ""


async def test_the_volume_manager_writes_when_a_sandbox_is_new_or_the_token_due_and_reports_failures() -> None:
    from kubelet.docker_runtime import RuntimeError_
    from kubelet.volumes import VolumeManager
    now = [float(NOW)]
    fail: list[Exception] = []

    async def create_token(*args: Any) -> api.TokenResponse:
        if fail:
            raise fail[0]
        return api.TokenResponse(token=f"token-at-{int(now[0])}", expiration_seconds=3607,
                                 expiration_timestamp=timeutil.fmt(int(now[0]) + 3607))
    rt = FakeRuntime()
    vm = VolumeManager(rt, tm.TokenManager(create_token, clock=lambda: now[0], jitter=lambda: 0.0), b"CA",
                       clock=lambda: now[0])     # type: ignore[arg-type]
    p = pod()
    sat.admit_pod(p, sa(), suffix="abcde")
    due = await vm.project(p, "sandbox-1")
    assert due == NOW + 3607 * 0.8
    ((cid, path, files),) = rt.uploads
    assert (cid, path) == ("sandbox-1", "/.kubelab/volumes/kube-api-access-abcde")
    assert files == {"..token.tmp": f"token-at-{NOW}".encode(), "..ca.crt.tmp": b"CA", "..namespace.tmp": b"default"}
    assert rt.execs[0][1][-3:] == ["ca.crt", "namespace", "token"]
    await vm.project(p, "sandbox-1")                       # nothing new: nothing written
    assert len(rt.uploads) == 1
    await vm.project(p, "sandbox-2")                       # a new sandbox has a fresh tmpfs
    assert len(rt.uploads) == 2 and rt.uploads[1][2]["..token.tmp"] == f"token-at-{NOW}".encode()
    now[0] = due                                           # 80% of the token's life: a new one
    await vm.project(p, "sandbox-2")
    assert rt.uploads[2][2]["..token.tmp"] == f"token-at-{int(due)}".encode()
    # The API refuses: with the files there, the old token stays and a retry comes soon; without, FailedMount.
    fail.append(errors.Forbidden('serviceaccounts "default" is forbidden: nope'))
    now[0] += 3607 * 0.8
    assert await vm.project(p, "sandbox-2") == now[0] + 5.0
    with pytest.raises(RuntimeError_, match=r'MountVolume.SetUp failed for volume "kube-api-access-abcde" : '
                                            r'failed to fetch token: serviceaccounts "default" is forbidden'):
        await vm.project(p, "sandbox-3")
