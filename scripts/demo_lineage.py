"""The lineage part of ``make demo``: diff, lineage verdicts and a safe checkpoint conversion, on real models.

``scripts/demo.py`` calls :func:`run_demo` with the folder holding the sample models and a scratch folder:

1. **diff** SmolLM2-135M-Instruct (GGUF Q4_1) against (a) a copy re-quantised to Q8_0 — every matrix is
   ``quantisation_noise``, nothing flagged — and (b) an edited copy: a ROME-style rank-1 edit in one MLP
   projection and two embedding rows replaced — both found, flagged, with the tokens named;
2. **lineage** verdicts: SmolLM2 vs its re-quantised copy (derived) and vs all-MiniLM (not derived);
3. **convert** a PyTorch checkpoint of all-MiniLM (written by ``torch.save``) to safetensors without running
   its pickle, and show with ``diff`` that the weights root is unchanged.

Everything runs through the ``weightwarden`` CLI, whose output is printed. Returns True when every result
is the expected one. Run alone: ``.venv/bin/python scripts/demo_lineage.py [MODELS_DIR]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM = "all-MiniLM-L6-v2"


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("weightwarden")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from weightwarden.cli.main import run; run()"]


def _banner(text: str) -> None:
    print(f"\n{'-' * 100}\n{text}\n{'-' * 100}", flush=True)


def _run(args: list[str], show: bool = True) -> subprocess.CompletedProcess[str]:
    print(f"$ weightwarden {' '.join(args)}", flush=True)
    res = subprocess.run([*_cli(), *args], capture_output=True, text=True, check=False)
    if show:
        print(res.stdout.rstrip())
    if res.stderr.strip():
        print(res.stderr.rstrip())
    print(f"(exit {res.returncode})", flush=True)
    return res


def _make_copies(smollm2: Path, work: Path) -> tuple[Path, Path, dict[str, str]]:
    """A Q8_0 re-quantised copy and an edited copy (same types; edited tensors stored as F32)."""
    from tests.lineage import variants as V

    base, info = V.load_model(smollm2)
    types = V.stored_types(smollm2)
    requant = V.requantise(base, "Q8_0", base_types=types)
    requant_path = V.write_gguf(requant.tensors, work / "smollm2.requant-Q8_0.gguf", info=info,
                                stored_types=requant.stored_types)
    del requant
    edit = V.rank1_edit(base, name="model.layers.12.mlp.down_proj.weight")
    rows = V.embedding_rows(base, rows=(2016, 7300))
    tensors = dict(edit.tensors)
    emb = "model.embed_tokens.weight"
    tensors[emb] = rows.tensors[emb]
    edited_names = [*edit.expected, emb]
    stored = dict(types, **{n: "F32" for n in edited_names})
    edited_path = V.write_gguf(tensors, work / "smollm2.edited.gguf", info=info, stored_types=stored)
    expected = {**edit.expected, emb: "embedding_rows"}
    return requant_path, edited_path, expected


def run_demo(models_dir: Path, work: Path) -> bool:
    """Run the lineage demo on the sample models in ``models_dir``, writing scratch files under ``work``."""
    models_dir, work = Path(models_dir), Path(work)
    work.mkdir(parents=True, exist_ok=True)
    smollm2, minilm = models_dir / SMOLLM2, models_dir / MINILM
    problems: list[str] = []

    _banner("lineage 1/3: diff SmolLM2 against a re-quantised and an edited copy")
    requant, edited, expected = _make_copies(smollm2, work)
    res = _run(["diff", str(smollm2), str(requant), "--top", "5"])
    doc = json.loads(_run(["diff", str(smollm2), str(requant), "--format", "json"], show=False).stdout or "{}")
    kinds = doc.get("kinds", {})
    if res.returncode != 1 or set(kinds) != {"quantisation_noise"} or doc.get("flagged"):
        problems.append(f"re-quantised copy: expected only quantisation_noise, got {kinds}")
    res = _run(["diff", str(smollm2), str(edited), "--top", "5"])
    doc = json.loads(_run(["diff", str(smollm2), str(edited), "--format", "json"], show=False).stdout or "{}")
    got = {c["name"]: c["kind"] for c in doc.get("changes", [])}
    if res.returncode != 1 or got != expected or set(doc.get("flagged", [])) != set(expected):
        problems.append(f"edited copy: expected {expected}, got {got}")

    _banner("lineage 2/3: is B derived from A? (weights only; declared metadata is never proof)")
    res = _run(["lineage", str(smollm2), str(requant)])
    if "derived" not in res.stdout.lower() or res.returncode == 2:
        problems.append("SmolLM2 vs its re-quantised copy: not reported as derived")
    res = _run(["lineage", str(smollm2), str(minilm)])
    verdict = json.loads(_run(["lineage", str(smollm2), str(minilm), "--format", "json"], show=False).stdout
                         or "{}").get("verdict")
    if verdict == "derived":
        problems.append("SmolLM2 vs all-MiniLM reported as derived")

    _banner("lineage 3/3: convert a PyTorch checkpoint to safetensors without running its pickle")
    ckpt = work / "minilm-pytorch_model.bin"
    import torch
    from safetensors.torch import load_file

    torch.save(load_file(str(minilm / "model.safetensors")), ckpt)  # written by torch itself
    out = work / "minilm-converted.safetensors"
    if out.exists():
        out.unlink()
    res = _run(["convert", str(ckpt), "-o", str(out)])
    if res.returncode != 0:
        problems.append("convert failed")
    res = _run(["diff", str(ckpt), str(out)])
    if res.returncode != 0:
        problems.append("converted weights differ from the checkpoint (weights roots differ)")
    res = _run(["diff", str(minilm), str(out)])
    if res.returncode != 0:
        problems.append("converted weights differ from the original safetensors")

    _banner("lineage: result")
    for p in problems:
        print(f"  PROBLEM: {p}")
    if not problems:
        print("  re-quantisation recognised as noise, both edits localised and flagged, lineage verdicts as "
              "expected, checkpoint converted with the same weights root.")
    return not problems


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".cache" / "models"
    with tempfile.TemporaryDirectory(prefix="ww-demo-lineage-") as tmp:
        sys.exit(0 if run_demo(where, Path(tmp)) else 1)
