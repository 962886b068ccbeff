"""Optional login (``app.auth``): who rates is who logged in, not what was typed in a text box.

Users and their password hashes live in Streamlit's secrets file (``.streamlit/secrets.toml``,
git-ignored), under ``[sanchaek_users]``: ``name = "scrypt$n$r$p$salt$hash"``. Make a line with
``python -m sanchaek.app.auth NAME`` (asks for the password). Hashes are scrypt from the standard
library, compared in constant time; a password is never stored.

The session remembers the login (``st.session_state``); a reload of the browser tab asks again.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import os
import sys
from collections.abc import Mapping

SECTION = "sanchaek_users"
SCRYPT = (2**14, 8, 1)  # n, r, p: about 50 ms and 16 MiB per check
SESSION_KEY = "auth_user"


def hash_password(password: str, salt: bytes | None = None) -> str:
    n, r, p = SCRYPT
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (a hash_password string); a malformed hash never matches."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def users_from(secrets: Mapping) -> dict[str, str]:
    """name -> hash from the secrets' [sanchaek_users] table (empty when it is missing)."""
    try:
        table = secrets.get(SECTION) or {}
    except Exception:  # Streamlit raises its own error for a missing or broken secrets file
        return {}
    return {str(k): str(v) for k, v in dict(table).items()}


def login(users: Mapping[str, str], name: str, password: str) -> str | None:
    """The user name when the password is right, else None (unknown users cost the same hashing time)."""
    name = " ".join(name.split())
    stored = users.get(name)
    ok = check_password(password, stored if stored is not None else hash_password("", b"\0" * 16))
    return name if ok and stored is not None else None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].strip():
        print("usage: python -m sanchaek.app.auth NAME  (prints a line for .streamlit/secrets.toml)")
        return 2
    password = getpass.getpass(f"password for {args[0]}: ")
    if not password or password != getpass.getpass("again: "):
        print("the passwords are empty or differ: nothing written")
        return 1
    print(f"[{SECTION}]  # in .streamlit/secrets.toml")
    print(f'"{args[0]}" = "{hash_password(password)}"')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
