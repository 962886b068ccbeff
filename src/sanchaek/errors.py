"""One error type for everything a user can fix.

Every message is one line that names the cause and the fix; the CLI prints it without a traceback.
"""

from __future__ import annotations


class SanchaekError(Exception):
    """A problem the user can fix: bad params, bad input, a missing upstream output."""

    def __init__(self, message: str):
        # Keep the promise of one line even when a cause carries newlines.
        super().__init__(" ".join(str(message).split()))


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name when it has none), cut to ``limit``
    characters: what a one-line message quotes of a library's error."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]
