"""SQL written once with named parameters, compiled once into each backend's placeholder style.

A statement names its parameters (`:name`). `statement()` compiles it, once, when the module that
defines it is imported, into SQLite's numbered `?N` and PostgreSQL's `$N`: each name gets the number
of its first appearance, so both backends take the same positional arguments, in the order the names
first appear, and a name used twice is passed once. Nothing is parsed or built per call.

The scanner knows just enough SQL to leave alone what is not a parameter: string literals ('…', with
'' inside), quoted identifiers ("…"), comments (-- to the end of the line, /* … */) and PostgreSQL
casts (`::type`, as in `:ids::bigint[]`). Positional placeholders (`?`, `?N`, `$N`) are refused, and
so is an unterminated literal or comment: a statement says what it binds by name only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKENS = re.compile(
    r"""
      '(?:[^']|'')*'              # a string literal ('' is a quote inside it)
    | "(?:[^"]|"")*"              # a quoted identifier
    | --[^\n]*                    # a line comment
    | /\*.*?\*/                   # a block comment
    | ::                          # a cast (PostgreSQL), never a parameter
    | :(?P<name>[A-Za-z_]\w*)     # a named parameter
    | (?P<positional>\?\d*|\$\d+) # a positional placeholder: refused
    | (?P<open>['"]|/\*)          # a literal or comment that never ends: refused
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement for both backends: as written, and compiled for each.

    `names` are the parameters in order of first appearance: pass the arguments in that order."""

    text: str
    names: tuple[str, ...]
    sqlite: str
    postgres: str


def statement(text: str) -> Statement:
    """Compile `text` (named parameters) for SQLite and PostgreSQL; ValueError for a positional placeholder
    or an unterminated literal or comment."""
    numbers: dict[str, int] = {}
    sqlite: list[str] = []
    postgres: list[str] = []
    done = 0
    for match in _TOKENS.finditer(text):
        if match["positional"] is not None:
            raise ValueError(f"positional placeholder {match['positional']!r} in a named statement: {text!r}")
        if match["open"] is not None:
            raise ValueError(f"unterminated {match['open']!r} at {match.start()} in {text!r}")
        name = match["name"]
        if name is None:
            continue  # a literal, an identifier, a comment or a cast: copied as it is
        number = numbers.setdefault(name, len(numbers) + 1)
        before = text[done : match.start()]
        sqlite += [before, f"?{number}"]
        postgres += [before, f"${number}"]
        done = match.end()
    sqlite.append(text[done:])
    postgres.append(text[done:])
    return Statement(text, tuple(numbers), "".join(sqlite), "".join(postgres))
