"""core.state_file: the one store behind the client's, the witness's, the view memory's and the PSI budget's
state files. A state file that is there but cannot be trusted is an error, never a fresh start; reads are
bounded and never block; read-modify-write under the lock loses no concurrent update."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from weightwarden.core.state_file import StateFile, StateFileError

SCHEMA = "weightwarden.test-state/v1"


def _file(path: Path, limit: int = 4096) -> StateFile:
    return StateFile(path, "test state", SCHEMA, "items", limit)


def test_missing_is_empty_and_write_read_round_trips(tmp_path: Path) -> None:
    state = _file(tmp_path / "deep" / "er" / "state.json")
    assert state.read() == {"schema": SCHEMA, "items": {}}
    with state.locked():
        state.write({"items": {"a": 1}, "other": [1, 2]})
    assert state.read() == {"schema": SCHEMA, "items": {"a": 1}, "other": [1, 2]}
    assert (tmp_path / "deep" / "er" / "state.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "deep" / "er").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "not valid JSON"),
    (b"{", "not valid JSON"),
    (b"[" * 2000 + b"]" * 2000, "not valid JSON"),
    (b'{"schema": "%s", "items": {}, "items": {}}' % SCHEMA.encode(), "not valid JSON"),
    (b'{"schema": "other/v1", "items": {}}', "not a weightwarden.test-state/v1 file"),
    (b'{"schema": "%s", "items": []}' % SCHEMA.encode(), "not a weightwarden.test-state/v1 file"),
    (b'{"schema": "%s", "items": {"x": "%s"}}' % (SCHEMA.encode(), b"y" * 5000), "larger than 4096 bytes"),
])
def test_a_file_that_cannot_be_trusted_is_an_error_not_a_fresh_start(tmp_path: Path, content: bytes,
                                                                     reason: str) -> None:
    (tmp_path / "state.json").write_bytes(content)
    with pytest.raises(StateFileError, match=reason):
        _file(tmp_path / "state.json").read()


def test_fifo_link_and_device_are_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.json")  # no writer: an open() that blocks would hang here
    with pytest.raises(StateFileError, match="not a regular file"):
        _file(tmp_path / "fifo.json").read()
    (tmp_path / "link.json").symlink_to("/dev/zero")
    with pytest.raises(StateFileError, match="symbolic link"):
        _file(tmp_path / "link.json").read()
    with pytest.raises(StateFileError, match="device/proc/sys|cannot keep"):
        _file(Path("/dev/shm-not-here/state.json")).check_writable()
    with pytest.raises(StateFileError), _file(Path("/proc/self/state.json")).locked():
        pass


def _add_many(path: str, who: str, count: int) -> None:
    state = _file(Path(path), 1 << 20)
    for i in range(count):
        with state.locked():
            document = state.read()
            document["items"][f"{who}{i}"] = i
            state.write(document)


def test_concurrent_read_modify_write_under_the_lock_loses_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    workers = [multiprocessing.get_context("fork").Process(target=_add_many, args=(path, who, 40)) for who in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert len(json.loads(Path(path).read_text())["items"]) == 80
