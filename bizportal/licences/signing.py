"""The signed payload a licence's QR code carries: a compact JWS (RFC 7515) signed with Ed25519.

Anyone holding the agency's published public key can check a licence offline:
the payload names the licence number, holder, permit type, issuing agency and
validity, and the signature (`alg` "EdDSA", RFC 8037) covers exactly those bytes.
Any JOSE library reads it (e.g. PyJWT: `jwt.decode(token, key, algorithms=["EdDSA"])`).

The token is kept short so that the QR code stays easy to scan: one-letter claim
names, ISO dates, UTF-8 JSON (Thai characters as 3 bytes, not 6-byte `\\u` escapes)
and a header of only `alg` and `kid`. Nothing here touches Flask or the database.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"
DEVELOPMENT_KEY_FILE = "licence_signing_key.pem"
MAX_TOKEN_LENGTH = 2_000
"""Longest token read: more than any licence needs, small enough that junk input is refused at once."""


class LicenceSignatureError(ValueError):
    """A payload is malformed, signed by an unknown key or altered; the message says which."""


class SigningKeyError(Exception):
    """The signing key cannot be loaded, or none is configured where one is required."""


@dataclass(frozen=True)
class LicenceClaims:
    """What the QR code vouches for: the facts a checker compares with the printed licence.

    `valid_until` is None for a permanent licence.
    """

    number: str
    holder: str
    permit_key: str
    agency_id: str
    valid_from: dt.date
    valid_until: dt.date | None

    def to_payload(self) -> dict[str, str]:
        """The JSON claims: n number, h holder, p permit key, iss agency, f/u valid from/until."""
        payload = {"n": self.number, "h": self.holder, "p": self.permit_key, "iss": self.agency_id,
                   "f": self.valid_from.isoformat()}
        if self.valid_until is not None:
            payload["u"] = self.valid_until.isoformat()
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> LicenceClaims:
        """Read claims back; raises `LicenceSignatureError` when one is missing or of the wrong type."""
        try:
            texts = {name: payload[name] for name in ("n", "h", "p", "iss", "f")}
            if not all(isinstance(value, str) for value in texts.values()):
                raise TypeError("claims must be strings")
            until = payload.get("u")
            if until is not None and not isinstance(until, str):
                raise TypeError("u must be a string")
            return cls(number=texts["n"], holder=texts["h"], permit_key=texts["p"], agency_id=texts["iss"],
                       valid_from=dt.date.fromisoformat(texts["f"]),
                       valid_until=dt.date.fromisoformat(until) if until is not None else None)
        except (KeyError, TypeError, ValueError) as error:
            raise LicenceSignatureError(f"the payload's claims are incomplete or malformed ({error})") from None


@dataclass(frozen=True)
class SigningKey:
    """An agency's Ed25519 private key, with the short id (`kid`) that names its public key."""

    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public half, the one the agency publishes."""
        return self.private_key.public_key()

    @property
    def kid(self) -> str:
        """The key's id, written in every token's header so that a checker picks the right public key."""
        return key_id(self.public_key)


# --------------------------------------------------------------------------- tokens

def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or any(char not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                       for char in text):
        raise LicenceSignatureError("the payload is not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise LicenceSignatureError("the payload is not base64url text") from None


def _compact_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign_claims(claims: LicenceClaims, key: SigningKey) -> str:
    """The compact JWS `header.payload.signature` for `claims`, signed with `key`."""
    header = _b64encode(_compact_json({"alg": ALGORITHM, "kid": key.kid}))
    payload = _b64encode(_compact_json(claims.to_payload()))
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{_b64encode(key.private_key.sign(signing_input))}"


def verify_token(token: str, public_keys: Iterable[Ed25519PublicKey]) -> LicenceClaims:
    """The claims of `token` when one of `public_keys` signed it exactly as it is.

    Raises `LicenceSignatureError` saying why otherwise: not a compact JWS, another
    algorithm (only EdDSA is accepted, never "none"), a key id none of the keys has,
    or a signature that does not match (the payload or signature was altered).
    """
    token = token.strip()
    if len(token) > MAX_TOKEN_LENGTH:
        raise LicenceSignatureError(f"the payload is longer than {MAX_TOKEN_LENGTH} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise LicenceSignatureError("the payload is not a compact JWS (header.payload.signature)")
    header_text, payload_text, signature_text = parts
    header = _json_object(_b64decode(header_text), "header")
    if header.get("alg") != ALGORITHM:
        raise LicenceSignatureError(f"the payload is signed with {header.get('alg')!r}, not {ALGORITHM}")
    keys = {key_id(key): key for key in public_keys}
    key = keys.get(str(header.get("kid")))
    if key is None:
        raise LicenceSignatureError(f"the payload is signed by key {header.get('kid')!r}, which is not one of "
                                    f"the public keys given ({', '.join(sorted(keys)) or 'none'})")
    try:
        key.verify(_b64decode(signature_text), f"{header_text}.{payload_text}".encode("ascii"))
    except (InvalidSignature, UnicodeEncodeError):
        raise LicenceSignatureError("the signature does not match: the payload was altered or not signed "
                                    "by this agency") from None
    return LicenceClaims.from_payload(_json_object(_b64decode(payload_text), "payload"))


def _json_object(data: bytes, part: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise LicenceSignatureError(f"the token's {part} is not JSON") from None
    if not isinstance(value, dict):
        raise LicenceSignatureError(f"the token's {part} is not a JSON object")
    return value


# --------------------------------------------------------------------------- keys

def _okp_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": _b64encode(raw)}


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 12 characters of the key's RFC 7638 JWK thumbprint: short, stable and public."""
    canonical = json.dumps(_okp_jwk(public_key), sort_keys=True, separators=(",", ":"))
    return _b64encode(hashlib.sha256(canonical.encode("ascii")).digest())[:12]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """The public key as a PEM `PUBLIC KEY` block, the form an agency publishes."""
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def public_key_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The public key as a JWK (RFC 8037 OKP) with its `kid`, for a published JWK set."""
    return {**_okp_jwk(public_key), "kid": key_id(public_key), "alg": ALGORITHM, "use": "sig"}


def load_public_keys(path: Path) -> list[Ed25519PublicKey]:
    """The Ed25519 public keys of a PEM file (one or several `PUBLIC KEY` blocks, or a private key)."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise SigningKeyError(f"{path}: cannot be read ({error})") from None
    if "PRIVATE KEY" in text:
        return [load_signing_key(path).public_key]
    keys = []
    for block in text.split("-----END PUBLIC KEY-----")[:-1]:
        try:
            key = serialization.load_pem_public_key((block + "-----END PUBLIC KEY-----\n").encode("ascii"))
        except ValueError as error:
            raise SigningKeyError(f"{path}: not a PEM public key ({error})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError(f"{path}: holds a {type(key).__name__}, not an Ed25519 public key")
        keys.append(key)
    if not keys:
        raise SigningKeyError(f"{path}: holds no PEM public key")
    return keys


def load_signing_key(path: Path) -> SigningKey:
    """Read an unencrypted PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519`)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SigningKeyError(f"{path}: cannot be read ({error})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise SigningKeyError(f"{path}: not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: holds a {type(key).__name__}, not an Ed25519 private key")
    return SigningKey(key)


def signing_key(configured: Path | None, instance_path: Path, production: bool) -> SigningKey:
    """The configured key; without one, a development key kept in the instance folder.

    In production a missing key is an error: licences signed by a throwaway key
    could never be checked against a published one.
    """
    if configured is not None:
        return load_signing_key(configured)
    if production:
        raise SigningKeyError("no licence signing key is configured; production needs the agency's Ed25519 "
                              "private key (PEM), e.g. from `openssl genpkey -algorithm ed25519`")
    path = instance_path / DEVELOPMENT_KEY_FILE
    if path.exists():
        return load_signing_key(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    # Written whole to a temporary file, then linked into place: the key file appears complete or not at all,
    # so a process starting at the same moment, or one killed while writing, never leaves a half-written key.
    temporary = None
    try:
        instance_path.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=instance_path, prefix=".signing-key-", suffix=".tmp")
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)  # fails if another process linked its key first
    except FileExistsError:  # another process made it first: use theirs
        return load_signing_key(path)
    except OSError as error:
        raise SigningKeyError(f"{path}: cannot write the development signing key ({error})") from None
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
    return SigningKey(key)
