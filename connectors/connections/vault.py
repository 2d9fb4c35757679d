"""Credentials at rest: a connection's API key or token, encrypted with
Fernet under the keys in TOUCHLINE_CREDENTIALS_KEY.

The variable holds one or more Fernet keys, comma-separated. The first
encrypts; every one of them decrypts, so a key is rotated by putting a new
one first, running `flask connections rotate-key` (which encrypts every
connection's credentials again under the new key), then removing the old.
Credentials are decrypted only where a sync or a test needs them, and are
never part of a repr, an API answer, an audit entry or a log line.
"""

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

ENVIRONMENT_VARIABLE = "TOUCHLINE_CREDENTIALS_KEY"


class VaultError(RuntimeError):
    """The keys are missing or wrong; says what to do about it."""


def _keys() -> MultiFernet:
    text = current_app.config.get("CREDENTIALS_KEY") or ""
    keys = [key.strip() for key in text.split(",") if key.strip()]
    if not keys:
        raise VaultError(
            f"{ENVIRONMENT_VARIABLE} is not set: connections keep their credentials encrypted"
            " with it (make one with `flask connections new-key`)"
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise VaultError(
            f"{ENVIRONMENT_VARIABLE} holds a value that is not a Fernet key"
            " (32 url-safe base64-encoded bytes; `flask connections new-key` makes one)"
        ) from None


def seal(credentials: dict) -> bytes:
    return _keys().encrypt(json.dumps(credentials, sort_keys=True).encode())


def unseal(token: bytes) -> dict:
    try:
        return json.loads(_keys().decrypt(bytes(token)))
    except InvalidToken:
        raise VaultError(
            f"the credentials were encrypted with a key no longer in {ENVIRONMENT_VARIABLE}"
        ) from None


def reseal(token: bytes) -> bytes:
    """The same credentials under the first key (MultiFernet.rotate)."""
    try:
        return _keys().rotate(bytes(token))
    except InvalidToken:
        raise VaultError(
            f"the credentials were encrypted with a key no longer in {ENVIRONMENT_VARIABLE}"
        ) from None


def new_key() -> str:
    return Fernet.generate_key().decode()
