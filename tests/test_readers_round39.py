"""Red team round 39 on the scanner's readers: round 38's chain walk, beaten two ways.

Class 1: program 0 spelled the legacy magic in a way CPython's unpicklers accept but no pickler writes (``I0x...``,
``I+...``, ``I ...``, ``I1_...``: both unpicklers parse an INT line with base 0) — the value evaluator left it unknown,
so the file was not sent on as legacy torch — and the head walk took a later literal program running past the 64 KiB
head for trailing data, so the payload program after it was never read ("text", 0 findings, exit 0; torch.load runs
it). Class 2: the whole-file walk stopped at a limit (a tuple of 1.1 M ``None`` past ``max_pickle_stack``) and that was
taken for "imports nothing" (pickle.load, torch.load, joblib.load and np.load(allow_pickle=True) all run the call after
it). Now, when program 0 is a pickle program and the file goes on past the head, the whole chain is walked whatever
program 0's value, and a walk stopped at a limit or at the programs' count sends the file to the pickle reader (which
reports the limit, WW-PKL-006, failing closed). Victims: the real loaders in a subprocess, one canary per file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.scan_rounds import run_loaders
from weightwarden.cli.main import main

pytest.importorskip("torch")

HEAD = 64 * 1024
SPELLINGS = {  # program 0: the magic 119547037146038801333356 as CPython's unpicklers read it, but no pickler writes
    "hex": b"I0x1950A86A20F9469CFC6C\n.",
    "plus": b"I+119547037146038801333356\n.",
    "space": b"I 119547037146038801333356\n.",
    "underscore": b"I119_547037146038801333356\n.",
    "long_hex": b"L0x1950A86A20F9469CFC6CL\n.",
}


def _call(canary: Path) -> bytes:
    """A protocol-0 dict whose value is os.system(touch canary), as torch's legacy sys_info/object programs take."""
    return (b"(dp0\nVstate_dict\np1\n(dp2\nsVx\np3\ncposix\nsystem\np4\n(Vtouch " + str(canary).encode()
            + b"\np5\ntp6\nRp7\ns.")


def _class1(path: Path, spelling: bytes, canary: Path) -> None:
    """magic, protocol 1001, a literal sys_info running past the head, the object program calling os.system, keys."""
    pre = spelling + b"I1001\n."
    literal = b"V" + b"a" * (HEAD - len(pre) + 100) + b"\n."
    path.write_bytes(pre + literal + _call(canary) + b"(lp0\n.")


def _class2(path: Path, canary: Path) -> None:
    """One program: a long text literal and a 1.1 M-item tuple (past max_pickle_stack), popped, then os.system."""
    path.write_bytes(b"V" + b"a" * 70000 + b"\n0" + b"(" + b"N" * 1_100_000 + b"t0"
                     + b"cposix\nsystem\n(Vtouch " + str(canary).encode() + b"\ntR.")


def _scan(path: Path, *extra: str) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(main, ["scan", str(path), "--format", "json", "--workers", "1", "-q", *extra])
    return result.exit_code, json.loads(result.stdout)["findings"]


def test_class1_odd_magic_spelling_with_a_literal_past_the_head(tmp_path: Path) -> None:
    jobs, files = [], []
    for name, spelling in SPELLINGS.items():
        for filename in ("training_state.pth", "pytorch_model.bin"):
            folder = tmp_path / name
            folder.mkdir(exist_ok=True)
            canary = tmp_path / f"canary-{name}-{filename}"
            _class1(folder / filename, spelling, canary)
            jobs.append(("torch", folder / filename))
            files.append((folder / filename, canary))
    run_loaders(jobs)
    for path, canary in files:
        assert canary.exists(), f"torch.load did not reach the payload of {path}: the test proves nothing"
        code, findings = _scan(path)
        assert code == 1 and any(f["severity"] == "critical" for f in findings), (path, findings)


def test_class2_a_limit_in_the_whole_file_walk_fails_closed(tmp_path: Path) -> None:
    loaders = {"model.pkl": "pickle", "optimizer.pt": "torch", "model.joblib": "joblib", "embeddings.npy": "numpy"}
    files = []
    for filename, loader in loaders.items():
        canary = tmp_path / f"canary-{filename}"
        _class2(tmp_path / filename, canary)
        files.append((tmp_path / filename, loader, canary))
    run_loaders([(loader, path) for path, loader, _ in files])
    for path, _loader, canary in files:
        assert canary.exists(), f"the loader did not reach the payload of {path}: the test proves nothing"
        code, findings = _scan(path)
        assert code == 1, (path, code)
        assert any(f["rule_id"] == "WW-PKL-006" and f["severity"] in ("high", "critical") for f in findings), findings


def test_text_after_a_literal_program_past_the_head_stays_clean(tmp_path: Path) -> None:
    """The whole-chain walk reads on, but a chain that imports nothing and hits no limit is still not a pickle:
    a text whose first line parses as a literal program, then more than the head of prose, stays text."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"I12\n." + b"plain prose, nothing to unpickle here.\n" * 3000)
    code, findings = _scan(path)
    assert code == 0 and not findings, findings
