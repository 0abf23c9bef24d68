"""Install and locate the peer scanners the benchmarks compare weightwarden with.

Each peer (modelscan, picklescan, fickling, modelaudit) gets its own virtual environment under
``benchmarks/.peers/<name>`` (git-ignored) so their pins never touch the project's ``.venv``. Used two ways:

    python benchmarks/peers.py install [NAME...]   # create/refresh the venvs (idempotent, run once)
    python benchmarks/peers.py versions            # print the installed versions

and as a module by ``scan_peers.py`` (``peer_bin``, ``peer_version``, ``PEERS``).

Every install goes through a constraints file that pins ``torch==2.13.0+cpu`` (a CPU wheel this machine
keeps on disk): letting pip choose a torch version would pull several GB of CUDA wheels. After each install
the venv's ``pip freeze`` is written to ``freeze.txt`` next to it and checked for CUDA packages.

What each peer gets, and why (formats a peer cannot scan without the omitted extras are noted):
- modelscan: core + ``h5py`` extra, with ``numpy<2`` (modelscan 0.8.8 calls a private numpy 1 function
  for every ``.npy``/``.npz``). The ``tensorflow`` extra (~600 MB) is omitted, so modelscan reports TF
  SavedModel files and ``.keras`` zips as "please install modelscan with tensorflow extras" (counted as
  errors, not detected).
- picklescan: core + ``7z`` extra (py7zr) + ``numpy``, which it imports for ``.npy``/``.npz`` without
  declaring it (without numpy a folder scan dies at the first ``.npz`` with a traceback and exit 0).
- fickling: core + ``archive`` extra (py7zr) + ``typing-extensions``, ``numpy`` and CPU ``torch``, which
  fickling 0.1.12 imports without declaring them (typing_extensions on 3.11; numpy and torch in
  ``fickling.polyglot``, which sorts zip/pickle/NumPy files). Its ``torch`` extra is not used because it
  also pulls torchvision from PyPI, built against the CUDA torch.
- modelaudit: core + the extras for formats in our corpus (h5, onnx, safetensors, joblib, sevenzip,
  pytorch, dill). ``tensorflow``, ``tflite``, ``tensorrt``, ``xgboost`` and ``mlflow`` are omitted:
  SavedModel scanning then falls back to what modelaudit can do without TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS_DIR = HERE / ".peers"
# CPU torch lives in pip's find-links directory on this machine; the exact local version keeps pip off
# the CUDA builds on PyPI.
TORCH_PIN = "torch==2.13.0+cpu"


@dataclass(frozen=True)
class Peer:
    name: str
    requirement: str  # what pip installs
    dist: str  # distribution name to read the version of
    script: str  # console script inside the venv
    also: tuple[str, ...] = ()  # extra requirements the peer imports but does not declare


PEERS: dict[str, Peer] = {
    # modelscan 0.8.8 calls numpy.lib.format._check_version, which numpy 2 removed: every .npy/.npz fails
    # with numpy 2, so it gets the last numpy 1.
    "modelscan": Peer("modelscan", "modelscan[h5py]==0.8.8", "modelscan", "modelscan", ("numpy<2",)),
    # picklescan imports numpy to scan .npy/.npz members but does not declare it.
    "picklescan": Peer("picklescan", "picklescan[7z]==1.0.5", "picklescan", "picklescan", ("numpy",)),
    # fickling 0.1.12 imports these without declaring them as core dependencies (see the docstring).
    "fickling": Peer("fickling", "fickling[archive]==0.1.12", "fickling", "fickling", ("typing-extensions", "numpy", "torch")),
    "modelaudit": Peer(
        "modelaudit",
        "modelaudit[h5,onnx,safetensors,joblib,sevenzip,pytorch,dill]==0.2.54",
        "modelaudit",
        "modelaudit",
    ),
}

# Environment for running peers: no telemetry, no network look-ups, no colour codes in parsed output.
PEER_ENV = {
    "NO_COLOR": "1",
    "TERM": "dumb",
    "PROMPTFOO_DISABLE_TELEMETRY": "1",  # modelaudit's documented opt-outs (it ships a PostHog client)
    "NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "PYTHONWARNINGS": "ignore",
}


def venv_dir(name: str) -> Path:
    return PEERS_DIR / name


def peer_bin(name: str, exe: str | None = None) -> Path:
    """Path of an executable (default: the peer's console script) inside the peer's venv."""
    return venv_dir(name) / "bin" / (exe or PEERS[name].script)


def is_installed(name: str) -> bool:
    return (venv_dir(name) / ".installed").exists() and peer_bin(name).exists()


def peer_version(name: str) -> str | None:
    """Installed version of the peer, read from its venv's metadata (no import of the peer)."""
    py = peer_bin(name, "python")
    if not py.exists():
        return None
    code = f"import importlib.metadata as m; print(m.version({PEERS[name].dist!r}))"
    res = subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=False)
    return res.stdout.strip() or None


def peer_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PEER_ENV)
    return env


def install(name: str, *, force: bool = False) -> dict[str, object]:
    """Create the venv of one peer and install it with torch pinned to the CPU wheel."""
    peer = PEERS[name]
    vdir = venv_dir(name)
    if is_installed(name) and not force:
        return {"name": name, "status": "present", "version": peer_version(name)}
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(vdir)], check=True)
    constraints = vdir / "constraints.txt"
    constraints.write_text(TORCH_PIN + "\n")
    pip = [str(vdir / "bin" / "python"), "-m", "pip"]
    subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=False)
    subprocess.run([*pip, "install", "-q", "-c", str(constraints), peer.requirement, *peer.also], check=True)
    freeze = subprocess.run([*pip, "freeze"], capture_output=True, text=True, check=True).stdout
    (vdir / "freeze.txt").write_text(freeze)
    cuda = [line for line in freeze.splitlines() if line.lower().startswith(("nvidia", "triton", "cuda"))]
    (vdir / ".installed").write_text(json.dumps({"requirement": peer.requirement, "cuda": cuda}))
    return {"name": name, "status": "installed", "version": peer_version(name), "cuda_packages": cuda}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["install", "versions"])
    ap.add_argument("names", nargs="*", help="peers (default: all)")
    ap.add_argument("--force", action="store_true", help="recreate the venvs")
    args = ap.parse_args(argv)
    names = args.names or list(PEERS)
    status = 0
    for name in names:
        if args.action == "versions":
            print(f"{name}: {peer_version(name) or 'not installed'}")
            continue
        try:
            print(json.dumps(install(name, force=args.force)), flush=True)
        except subprocess.CalledProcessError as exc:
            print(json.dumps({"name": name, "status": "failed", "error": str(exc)}), flush=True)
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
