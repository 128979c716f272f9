"""Named-parameter SQL compiled for each backend (bot/store/statement.py): names become numbered placeholders in
order of first appearance, and nothing that is not a parameter (literals, identifiers, comments, casts) is touched."""

from __future__ import annotations

import sqlite3

import pytest

from bot.store import sql
from bot.store.statement import Statement, statement


def test_names_are_numbered_by_first_appearance_and_reused() -> None:
    s = statement("UPDATE t SET a = :now, b = :owner WHERE id = :id AND c < :now")

    assert s.names == ("now", "owner", "id")
    assert s.sqlite == "UPDATE t SET a = ?1, b = ?2 WHERE id = ?3 AND c < ?1"
    assert s.postgres == "UPDATE t SET a = $1, b = $2 WHERE id = $3 AND c < $1"


def test_casts_stay_casts() -> None:
    s = statement("SELECT * FROM t WHERE id = ANY(:ids::bigint[]) AND x = :x :: text AND y = '1'::int")

    assert s.names == ("ids", "x")
    assert s.postgres == "SELECT * FROM t WHERE id = ANY($1::bigint[]) AND x = $2 :: text AND y = '1'::int"


@pytest.mark.parametrize(
    "text",
    [
        "SELECT ':not_a_name', 'it''s :still_not' FROM t WHERE a = :a",
        'SELECT ":odd:name" FROM t WHERE a = :a',
        "SELECT 1 -- a comment with :no_name\nFROM t WHERE a = :a",
        "SELECT /* :no\n:name */ 1 FROM t WHERE a = :a",
        "UPDATE t SET k = 'purged:' || id WHERE a = :a",
    ],
)
def test_literals_identifiers_and_comments_are_left_alone(text: str) -> None:
    s = statement(text)

    assert s.names == ("a",)
    assert s.sqlite == text.replace(":a", "?1") and s.sqlite.count("?1") == 1
    assert s.postgres == text.replace(":a", "$1")


def test_a_statement_without_parameters_is_unchanged() -> None:
    text = "SELECT COUNT(*) FROM requests WHERE state IN ('new', 'ready')"

    assert statement(text) == Statement(text, (), text, text)


@pytest.mark.parametrize(
    "text", ["SELECT * FROM t WHERE a = ?", "SELECT * FROM t WHERE a = ?2", "SELECT * FROM t WHERE a = $1"]
)
def test_positional_placeholders_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="positional"):
        statement(text)


@pytest.mark.parametrize("text", ["SELECT 'open FROM t WHERE a = :a", 'SELECT "open FROM t', "SELECT /* open"])
def test_an_unterminated_literal_or_comment_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="unterminated"):
        statement(text)


def test_sqlite_binds_numbered_placeholders_positionally() -> None:
    s = statement("SELECT :b || ':' || :a || :b")
    with sqlite3.connect(":memory:") as conn:
        assert conn.execute(s.sqlite, ("B", "A")).fetchone() == ("B:AB",)


def test_every_shared_statement_compiles_for_both_backends() -> None:
    shared: list[Statement] = []
    for value in vars(sql).values():
        group = list(value.values()) if isinstance(value, dict) else value if isinstance(value, tuple) else [value]
        shared += [s for s in group if isinstance(s, Statement)]

    assert len(shared) > 50
    for s in shared:
        assert "?" not in s.text and "$" not in s.text
        assert s.sqlite.count("?") == s.postgres.count("$")
