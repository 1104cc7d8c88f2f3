"""Small pieces of English every renderer uses: a number with its noun in the right number."""

from __future__ import annotations


def count_noun(number: int, one: str, many: str | None = None) -> str:
    """``1 entry`` / ``3 entries``; ``many`` defaults to the regular plural of ``one``."""
    return f"{number} {one if number == 1 else (many or plural(one))}"


def plural(noun: str) -> str:
    """The regular English plural of ``noun`` (entry -> entries, backup -> backups)."""
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"
