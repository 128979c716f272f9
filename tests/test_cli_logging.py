"""`askcall`'s log set-up: an expected outage logged by a library is one line, not a traceback per retry.
(A real outage under real processes: tests/process/test_replicas.py, the database stopped and started.)"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.cli import _ONE_LINE_LOGGERS, _one_line


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """What the asyncpg.pool logger writes, through AskCall's filter, into a stream of the test's own."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("asyncpg.pool")
    logger.addHandler(handler)
    logger.addFilter(_one_line)
    try:
        yield output
    finally:
        logger.removeFilter(_one_line)
        logger.removeHandler(handler)


def log_failure(*, error: bool = False) -> None:
    logger = logging.getLogger("asyncpg.pool")
    try:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    except ConnectionRefusedError:
        if error:
            logger.exception("it broke")
        else:
            logger.warning("Failed to restore the pool connection %s; retrying", "floor", exc_info=True)


def test_the_pool_logger_is_folded_to_one_line() -> None:
    assert "asyncpg.pool" in _ONE_LINE_LOGGERS


def test_a_retry_warning_is_one_line_naming_the_error(stream: io.StringIO) -> None:
    log_failure()
    assert stream.getvalue().splitlines() == [
        "WARNING asyncpg.pool: Failed to restore the pool connection floor; retrying "
        "(ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 5432))"
    ]


def test_an_error_keeps_its_traceback(stream: io.StringIO) -> None:
    log_failure(error=True)
    assert "Traceback (most recent call last)" in stream.getvalue()
