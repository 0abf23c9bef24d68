"""Re-signing after a small edit: ``sign`` from scratch vs ``sign --reuse PREVIOUS`` (issue 12).

A model folder of ``--files`` weight files of ``--mib`` MiB each plus a README is signed once; then the
README is edited and the model is signed again, (a) from scratch and (b) with ``--reuse`` of the previous
bundle, alternately ``--repeat`` times (median reported). Both runs go through the library in this
process (the CLI adds the same ~0.2 s start-up to both). ``verify`` of the reused bundle is timed too: it
must still read everything. Page cache: the files are read once before timing, so both variants hash from
memory (the saving on a cold disk is larger: reuse reads nothing but metadata for unchanged files).

    .venv/bin/python benchmarks/sign_reuse.py [--files 4] [--mib 256] [--repeat 3]

Writes ``benchmarks/results/sign_reuse.json`` (date, commit, machine load, every timing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, machine, median, write_result  # noqa: E402

KEYS = ROOT.parent / "shared" / "fixtures" / "model-signing" / "v1.1.1" / "keys"


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:
        return ""


def _make_model(folder: Path, files: int, mib: int) -> int:
    folder.mkdir(parents=True)
    chunk = os.urandom(1 << 20)
    for i in range(files):
        with open(folder / f"model-{i + 1:05d}-of-{files:05d}.bin", "wb") as f:
            for _ in range(mib):
                f.write(chunk)
    (folder / "README.md").write_text("# benchmark model\n")
    return files * mib << 20


def _warm(folder: Path) -> None:
    for p in folder.iterdir():
        with open(p, "rb") as f:
            while f.read(8 << 20):
                pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from weightwarden.integrity.release import sign_model, verify_model
    from weightwarden.integrity.signing import KeySigner
    from weightwarden.integrity.verifying import KeyVerifier

    signer = KeySigner((KEYS / "p256.pem").read_bytes())
    verifier = KeyVerifier((KEYS / "p256.pub.pem").read_bytes())
    mach = machine()
    work = Path(tempfile.mkdtemp(prefix="ww-sign-reuse-"))
    try:
        model = work / "model"
        total = _make_model(model, args.files, args.mib)
        _warm(model)
        previous = work / "v0.sig"
        sign_model(model, signer, signature_path=previous)
        full, reused, verify = [], [], []
        hashed_files: list[int] = []
        for i in range(args.repeat):
            (model / "README.md").write_text(f"# benchmark model\n\nedit {i}\n")
            t0 = time.perf_counter()
            sign_model(model, signer, signature_path=work / f"full-{i}.sig")
            full.append(time.perf_counter() - t0)
            record: list = []
            t0 = time.perf_counter()
            sign_model(model, signer, signature_path=work / f"reuse-{i}.sig", reuse_bundle=previous, record=record)
            reused.append(time.perf_counter() - t0)
            hashed_files.append(sum(1 for _, _, was in record if not was))
            t0 = time.perf_counter()
            report = verify_model(model, work / f"reuse-{i}.sig", verifier)
            verify.append(time.perf_counter() - t0)
            assert report.verified, report.reasons
            previous = work / f"reuse-{i}.sig"
        result = {
            "benchmark": "sign_reuse",
            "commit": _commit(),
            "machine": mach,
            "loadavg_end": os.getloadavg(),
            "model": {"files": args.files + 1, "bytes": total + len("# benchmark model\n")},
            "repeat": args.repeat,
            "sign_full_s": full,
            "sign_reuse_s": reused,
            "verify_after_reuse_s": verify,
            "files_hashed_with_reuse": hashed_files,
            "median_sign_full_s": median(full),
            "median_sign_reuse_s": median(reused),
            "median_verify_s": median(verify),
            "speedup": median(full) / median(reused) if median(reused) > 0 else None,
        }
        path = write_result("sign_reuse", result)
        print(f"{args.files} x {args.mib} MiB + README, README edited; median of {args.repeat} "
              f"(load {mach['loadavg']}):")
        print(f"  sign from scratch  {median(full):.3f} s")
        print(f"  sign --reuse       {median(reused):.3f} s  ({result['speedup']:.0f}x; hashed "
              f"{hashed_files} file(s))")
        print(f"  verify (everything) {median(verify):.3f} s")
        print(f"written {path}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
