"""Files the project writes: whole or not at all, readable as a plain write would leave them."""

from __future__ import annotations

import os
import stat

import pytest

from evpm.files import atomic_path


def test_a_written_file_gets_the_mode_of_a_plain_write(tmp_path):
    previous = os.umask(0o022)
    try:
        target = tmp_path / "tripdata.V1.csv"
        with atomic_path(target) as tmp:
            tmp.write_text("time_s\n0\n")
        # Readable by another user (the pipeline's container reading incoming/), not 0600.
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
    finally:
        os.umask(previous)


def test_a_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "tripdata.V1.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
