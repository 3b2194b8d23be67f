"""Certificates for a lab: one CA, serving and client certificates it signs.

Lab tooling, not library: the launchers (`cluster up --local` and the compose lab's bootstrap
service) make the certificates here; the components only read the files their flags name
(etcd's client-certificate TLS, so only the apiserver may talk to etcd, and the apiserver's
HTTPS front end), so none imports this module. Written with
`cryptography`, as kubeadm's `certs` phase does with Go's crypto/x509: ECDSA P-256 keys,
SHA-256 signatures, a CA valid ten years and leaf certificates valid one.

Files are written as kubeadm lays them out (`ca.crt`/`ca.key`, `<name>.crt`/`<name>.key`,
PEM), keys at 0600 in a 0700 directory: a key is a credential.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 365


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM."""
    cert_pem: bytes
    key_pem: bytes


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str, organizations: Iterable[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _now() -> datetime.datetime:
    # Backdated a little: clocks of containers and host may differ by a second or two.
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)


def make_ca(common_name: str = "kubelab-ca") -> KeyPair:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = _new_key()
    name = _name(common_name)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now())
            .not_valid_after(_now() + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _san(names: Iterable[str]) -> list[x509.GeneralName]:
    """IP addresses become IP SANs, everything else DNS SANs (Go's TLS checks an IP only against IP SANs)."""
    out: list[x509.GeneralName] = []
    for n in dict.fromkeys(names):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(x509.DNSName(n))
    return out


def issue(ca: KeyPair, common_name: str, *, server_names: Iterable[str] = (), client: bool = False,
          organizations: Iterable[str] = (), days: int = LEAF_DAYS) -> KeyPair:
    """A leaf certificate signed by `ca`.

    `server_names` (IPs or DNS names) make it a serving certificate for them; `client` makes it a
    client certificate whose CN is the user and whose O fields are its groups, as Kubernetes
    reads client certificates. Both may be set (etcd peers use one certificate for both)."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    key = _new_key()
    names = list(server_names)
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if names else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    if not usages:
        raise ValueError("a certificate needs server names, client use, or both")
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common_name, organizations))
               .issuer_name(ca_cert.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(_now())
               .not_valid_after(_now() + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                            crl_sign=False, content_commitment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
                              critical=False))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(_san(names)), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def secure_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter (0700), made if missing."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write a credential: created 0600 before any byte is in it, replaced atomically."""
    secure_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def save(pair: KeyPair, directory: Path, name: str) -> tuple[Path, Path]:
    """Write `<name>.crt` (0644: a certificate is public) and `<name>.key` (0600) into `directory` (0700)."""
    secure_dir(directory)
    crt, key = directory / f"{name}.crt", directory / f"{name}.key"
    write_private(key, pair.key_pem)
    write_private(crt, pair.cert_pem)
    os.chmod(crt, 0o644)
    return crt, key


def load(directory: Path, name: str) -> KeyPair:
    """Read back what `save` wrote."""
    return KeyPair((directory / f"{name}.crt").read_bytes(), (directory / f"{name}.key").read_bytes())


def load_or_make_ca(directory: Path, name: str = "ca") -> KeyPair:
    """The lab's CA: kept across restarts of the same lab (clients keep trusting it), made on first use."""
    if (directory / f"{name}.crt").exists() and (directory / f"{name}.key").exists():
        return load(directory, name)
    ca = make_ca()
    save(ca, directory, name)
    return ca


def apiserver_certificates(directory: Path, cluster_ip: str) -> tuple[Path, Path, bytes]:
    """The lab's CA (kept across restarts) and a serving certificate for the apiserver's HTTPS, for every name
    a client may use: 127.0.0.1, localhost, apiserver, the `kubernetes` Service's ClusterIP and its DNS
    names. Returns (certificate file, key file, CA certificate PEM)."""
    ca = load_or_make_ca(directory)
    names = ["127.0.0.1", "localhost", "apiserver", cluster_ip, "kubernetes", "kubernetes.default",
             "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
    crt, key = save(issue(ca, "kube-apiserver", server_names=names), directory, "apiserver")
    return crt, key, ca.cert_pem


def load_or_make_service_account_key(directory: Path, name: str = "sa") -> tuple[Path, Path]:
    """The key that signs ServiceAccount tokens (kubeadm's `sa.key`, and its public half `sa.pub`) beside the
    CA: kept across restarts of the same lab (tokens already handed out stay valid), made on first use; EC P-256
    as the lab's other keys. Returns (private key file, public key file)."""
    key_file, pub_file = directory / f"{name}.key", directory / f"{name}.pub"
    if key_file.exists() and pub_file.exists():
        return key_file, pub_file
    key = _new_key()
    write_private(key_file, _key_pem(key))
    write_private(pub_file, key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    os.chmod(pub_file, 0o644)
    return key_file, pub_file
