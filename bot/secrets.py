"""Secrets at rest: what AskCall keeps encrypted in its database (Slack tokens), under ASKCALL_ENCRYPTION_KEY.

Invariant: a secret reaches the store only encrypted (`Secrets.encrypt`), and comes back only through
`Secrets.decrypt`; the first key of ASKCALL_ENCRYPTION_KEY encrypts, every key decrypts (cryptography's
`MultiFernet`), so keys rotate without downtime (`askcall workspaces rotate-key` re-encrypts under the first).
A value that no key decrypts raises `Undecryptable` naming what it belonged to, never a bare crypto error, and
no message here ever holds a secret or a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["BadEncryptionKey", "Secrets", "Undecryptable", "new_key"]


class BadEncryptionKey(ValueError):
    """ASKCALL_ENCRYPTION_KEY is not a comma-separated list of Fernet keys."""


class Undecryptable(Exception):
    """A stored secret that none of the configured keys decrypts (a key was dropped too early, or the row is
    damaged)."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"the stored secret of {what} can't be decrypted with any key of ASKCALL_ENCRYPTION_KEY: put back the "
            "key it was encrypted with (after the current one), or reinstall AskCall in that workspace"
        )
        self.what = what


def new_key() -> str:
    """A fresh Fernet key (url-safe base64 of 32 random bytes), for ASKCALL_ENCRYPTION_KEY."""
    return Fernet.generate_key().decode("ascii")


class Secrets:
    """Encrypts with the first key, decrypts with any (comma-separated keys, newest first)."""

    def __init__(self, keys: str) -> None:
        parts = [part.strip() for part in keys.split(",") if part.strip()]
        if not parts:
            raise BadEncryptionKey("ASKCALL_ENCRYPTION_KEY holds no key")
        fernets = []
        for position, part in enumerate(parts, start=1):
            try:
                fernets.append(Fernet(part.encode("ascii")))
            except (ValueError, UnicodeEncodeError) as error:
                raise BadEncryptionKey(
                    f"key {position} of ASKCALL_ENCRYPTION_KEY is not a Fernet key (32 bytes in url-safe base64, "
                    "44 characters)"
                ) from error
        self._fernet = MultiFernet(fernets)
        self._first = fernets[0]
        self._derivation_key = hashlib.sha256(b"askcall derived tokens\x00" + parts[0].encode("ascii")).digest()
        self.key_count = len(fernets)

    def __repr__(self) -> str:  # never the keys
        return f"Secrets({self.key_count} key{'s' if self.key_count != 1 else ''})"

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def encrypt_optional(self, value: str | None) -> str | None:
        return None if value is None else self.encrypt(value)

    def decrypt(self, token: str, *, what: str) -> str:
        """The secret; `what` names its owner in the error when no key decrypts it."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError) as error:
            raise Undecryptable(what) from error

    def decrypt_optional(self, token: str | None, *, what: str) -> str | None:
        return None if token is None else self.decrypt(token, what=what)

    def rotate(self, token: str, *, what: str) -> str:
        """The same secret encrypted under the first key (already so: a new token, same plaintext)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError, ValueError) as error:
            raise Undecryptable(what) from error

    def derive(self, *parts: str) -> str:
        """An unguessable token that only these keys make from `parts` (HMAC-SHA256 under a key derived from the
        first one), the same every time: url-safe, 43 characters. Not a secret's encryption: nothing decrypts it."""
        message = "\x00".join(parts).encode("utf-8")
        digest = hmac.new(self._derivation_key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def is_current(self, token: str) -> bool:
        """Whether the first key (the one that encrypts) decrypts `token` already."""
        try:
            self._first.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeError, ValueError):
            return False
        return True
