"""``firebreak tls-certs``: a private CA and one certificate per DC for the log's TLS (``[tls]``).

For trying TLS, tests and small installations. Each DC's certificate names the DC's ``host`` and
``bind`` addresses (an IP address or a DNS name) and serves both ends of a link (server and client
authentication), because routes between nodes use mutual TLS. Keys are written 0600. A site with
its own PKI points ``[tls]`` at its own files instead.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from firebreak.config import Config, DCConfig, Tls
from firebreak.private_files import make_private_dir, write_private

#: Days a generated certificate is valid (the CA's too).
VALID_DAYS = 825


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _san(dc: DCConfig) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for address in dict.fromkeys(a for a in (dc.host, dc.bind) if a):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            names.append(x509.DNSName(address))
    return x509.SubjectAlternativeName(names)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def make_certs(config: Config, out: Path) -> Tls:
    """Writes ``ca.pem`` and ``<dc>.pem`` / ``<dc>-key.pem`` for every DC into ``out``; returns the
    ``[tls]`` settings that use them."""
    make_private_dir(out)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=VALID_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{config.cluster_name} log CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(out / "ca.pem", _pem(ca))
    for dc in config.dcs:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{config.cluster_name} {dc.name}"))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(_san(dc), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        write_private(out / f"{dc.name}.pem", _pem(cert))
        write_private(out / f"{dc.name}-key.pem", _pem_key(key))
    where = out.resolve()
    return Tls(str(where / "ca.pem"), str(where / "{dc}.pem"), str(where / "{dc}-key.pem"))


def tls_section(tls: Tls) -> str:
    return f'[tls]\nca_file = "{tls.ca_file}"\ncert_file = "{tls.cert_file}"\nkey_file = "{tls.key_file}"\n'
