"""API keys: generation, parsing and verification.

A key looks like ``pk_live_<key id>_<secret>``. The key id (public, 12 hex chars) finds the
row; only ``sha256(salt + secret)`` is stored. The secret carries 256 random bits, so a fast
hash is enough (a slow KDF protects low-entropy passwords, not random tokens) and keeps the
per-request check cheap. The comparison is constant-time, and a lookup for an unknown id
still hashes, so timing does not reveal which ids exist.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

__all__ = ["SCOPES", "ApiKey", "Scope", "generate_key", "hash_secret", "parse_key", "verify_secret"]

Scope = Literal["ingest", "read"]
SCOPES: tuple[str, ...] = ("ingest", "read")
_PREFIX = "pk_live_"
_DUMMY_SALT = "00" * 16


@dataclass(frozen=True)
class ApiKey:
    """A stored key: never holds the secret itself."""

    key_id: str
    tenant_id: str
    scope: str
    salt: str
    secret_hash: str
    created_at: str
    name: str | None = None
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        """False once revoked."""
        return self.revoked_at is None


def hash_secret(salt: str, secret: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def generate_key(tenant_id: str, scope: str, name: str | None = None) -> tuple[ApiKey, str]:
    """Make a new key for ``tenant_id``; return the record to store and the plaintext to print once.

    Raises:
        ValueError: empty tenant or unknown scope.
    """
    if not tenant_id or not isinstance(tenant_id, str) or len(tenant_id) > 128:
        raise ValueError(f"tenant={tenant_id!r} must be a non-empty string of at most 128 characters")
    if scope not in SCOPES:
        raise ValueError(f"scope={scope!r} is not a key scope; expected one of: {', '.join(SCOPES)}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    record = ApiKey(key_id, tenant_id, scope, salt, hash_secret(salt, secret), now, name)
    return record, f"{_PREFIX}{key_id}_{secret}"


def parse_key(key: str) -> tuple[str, str] | None:
    """Split a presented key into (key id, secret); None if it is not shaped like a key."""
    if not key.startswith(_PREFIX):
        return None
    key_id, sep, secret = key[len(_PREFIX) :].partition("_")
    if not sep or len(key_id) != 12 or not secret or len(secret) > 256:
        return None
    try:
        int(key_id, 16)
    except ValueError:
        return None
    return key_id, secret


def verify_secret(record: ApiKey | None, secret: str) -> bool:
    """Constant-time check of ``secret`` against ``record`` (hashes even when there is no record)."""
    salt = record.salt if record is not None else _DUMMY_SALT
    expected = record.secret_hash if record is not None else "0" * 64
    ok = hmac.compare_digest(hash_secret(salt, secret), expected)
    return ok and record is not None and record.active
