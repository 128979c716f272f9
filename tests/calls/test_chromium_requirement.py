"""The browser tests' rule for a missing Chromium: fail under CI, skip with the reason elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.calls.browser import require_chromium


def test_missing_chromium_fails_under_ci_and_skips_elsewhere(tmp_path: Path) -> None:
    absent = tmp_path / "no-chromium"
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        require_chromium(absent, ci=True)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        require_chromium(absent, ci=False)
    present = tmp_path / "chromium"
    present.touch()
    require_chromium(present, ci=True)
