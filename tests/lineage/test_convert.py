"""``weightwarden convert`` / convert_checkpoint: safe pickle -> safetensors, checked against torch.load.

The reference for every output tensor is what ``torch.load(..., weights_only=True)`` returns, computed here in
the test (the package never loads a pickle). Canary checkpoints prove nothing from the file runs: their pickle
would create a file if it were ever executed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from weightwarden.cli.main import main
from weightwarden.lineage.convert import convert_checkpoint
from weightwarden.lineage.model import LineageError
from weightwarden.lineage.tensors import CheckpointRefused, open_tensors

torch = pytest.importorskip("torch")


def _flatten_reference(obj, prefix: str = "") -> dict:
    """torch.load's result flattened the way convert documents it (dict keys / list indexes joined by dots)."""
    out = {}
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten_reference(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            out.update(_flatten_reference(v, f"{prefix}.{i}" if prefix else str(i)))
    return out


def _check_against_torch(src: Path, dst: Path) -> dict:
    from safetensors.torch import load_file

    expected = _flatten_reference(torch.load(src, weights_only=True))
    got = load_file(str(dst))
    assert sorted(got) == sorted(expected)
    for name, t in expected.items():
        assert got[name].dtype == t.dtype and tuple(got[name].shape) == tuple(t.shape), name
        assert torch.equal(got[name], t), name
    return got


@pytest.fixture(scope="session")
def minilm_bin(minilm_folder, tmp_path_factory) -> Path:
    """all-MiniLM's weights saved by torch.save, as transformers writes pytorch_model.bin."""
    from safetensors.torch import load_file

    path = tmp_path_factory.mktemp("minilm-bin") / "pytorch_model.bin"
    torch.save(load_file(str(minilm_folder / "model.safetensors")), path)
    return path


def test_minilm_pytorch_model_bin(minilm_bin, minilm_folder, tmp_path):
    out = tmp_path / "model.safetensors"
    result = convert_checkpoint(minilm_bin, out)
    assert result.converted and result.tensors == 104 and not result.skipped
    _check_against_torch(minilm_bin, out)
    # The same weights as the release's own safetensors: identical canonical bytes, tensor by tensor.
    with open_tensors(out) as a, open_tensors(minilm_folder / "model.safetensors") as b:
        assert [r.canonical for r in a.refs] == [r.canonical for r in b.refs]
        for ra, rb in zip(a.refs, b.refs, strict=True):
            assert b"".join(a.canonical_chunks(ra)) == b"".join(b.canonical_chunks(rb))
        assert result.bytes == sum(r.nbytes for r in b.refs)
    from safetensors import safe_open

    with safe_open(str(out), "np") as f:
        assert f.metadata() == {"format": "pt", "converted_by": "weightwarden 0.1.0"}


def _tricky_state_dict() -> dict:
    torch.manual_seed(0)
    base = torch.randn(6, 8)
    return {
        "shared.weight": base,
        "shared.transposed": base.t(),  # same storage, non-contiguous
        "shared.slice": base[1:5, ::3],  # offset + strides
        "expanded": torch.randn(1, 4).expand(3, 4),  # stride 0
        "bf16": torch.randn(3, 5).to(torch.bfloat16),
        "f16": torch.randn(7).half(),
        "f64": torch.randn(2, 2, dtype=torch.float64),
        "i64": torch.arange(9).reshape(3, 3),
        "i8": torch.tensor([-3, 4], dtype=torch.int8),
        "u8": torch.tensor([250, 1], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 4),
        "param": torch.nn.Parameter(torch.ones(2, 3)),
        "bf16_view": torch.randn(4, 6).to(torch.bfloat16)[:, 1::2],
    }


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_shared_strided_dtypes(tmp_path, legacy):
    src = tmp_path / "tricky.pt"
    torch.save(_tricky_state_dict(), src, _use_new_zipfile_serialization=not legacy)
    out = tmp_path / "tricky.safetensors"
    result = convert_checkpoint(src, out)
    assert result.converted and result.tensors == len(_tricky_state_dict())
    _check_against_torch(src, out)


def test_legacy_minilm(minilm_folder, tmp_path):
    from safetensors.torch import load_file

    src = tmp_path / "legacy.bin"
    torch.save(load_file(str(minilm_folder / "model.safetensors")), src, _use_new_zipfile_serialization=False)
    out = tmp_path / "legacy.safetensors"
    assert convert_checkpoint(src, out).converted
    _check_against_torch(src, out)


def test_nested_optimizer_checkpoint_is_flattened(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    src = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "note": "x"}, src)
    out = tmp_path / "ckpt.safetensors"
    result = convert_checkpoint(src, out)
    assert result.converted
    got = _check_against_torch(src, out)
    assert "model.0.weight" in got and "optimizer.state.0.exp_avg" in got
    assert {"epoch", "note"} <= set(result.skipped)
    # open_tensors (lineage) looks inside the conventional "model" wrapper instead.
    with open_tensors(src) as ts:
        assert [r.canonical for r in ts.refs] == ["0.bias", "0.weight", "1.bias", "1.weight"]


def test_numpy_npy_and_npz(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {
        "c": rng.standard_normal((3, 4)).astype(np.float32),
        "fortran": np.asfortranarray(rng.standard_normal((5, 3))),
        "big": rng.standard_normal(6).astype(">f4"),
        "ints": np.arange(12, dtype=np.int16).reshape(3, 4),
        "zero_d": np.array(2.5),
    }
    np.save(tmp_path / "one.npy", arrays["fortran"])
    np.savez(tmp_path / "many.npz", **arrays)
    for src, expected in ((tmp_path / "one.npy", {"one": arrays["fortran"]}), (tmp_path / "many.npz", arrays)):
        out = tmp_path / (src.stem + ".safetensors")
        result = convert_checkpoint(src, out)
        assert result.converted and result.tensors == len(expected)
        from safetensors.numpy import load_file

        got = load_file(str(out))
        assert sorted(got) == sorted(expected)
        for name, arr in expected.items():
            np.testing.assert_array_equal(got[name], arr)
            assert got[name].dtype == arr.dtype.newbyteorder("=")


def test_object_npy_is_refused(tmp_path):
    src = tmp_path / "objects.npy"
    np.save(src, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    result = convert_checkpoint(src, tmp_path / "o.safetensors")
    assert not result.converted and result.refused
    assert not (tmp_path / "o.safetensors").exists()


class _Canary:
    """Pickles as a call that would create ``path`` (os.system touch) if the pickle were ever run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_canary_checkpoint_is_refused_and_never_runs(tmp_path, legacy):
    canary = tmp_path / "canary" / "ran"
    canary.parent.mkdir()
    src = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "payload": _Canary(canary)}, src, _use_new_zipfile_serialization=not legacy)
    out = tmp_path / "evil.safetensors"
    result = CliRunner().invoke(main, ["convert", str(src), "-o", str(out)], standalone_mode=False)
    assert result.return_value == 1, result.output
    assert "refused" in result.output and "system" in result.output  # the finding names the call
    assert not out.exists() and not canary.exists()
    assert list(tmp_path.glob(".evil.safetensors.*")) == []
    with pytest.raises(CheckpointRefused, match="system"):
        open_tensors(src)
    assert not canary.exists()


def test_cli_exit_codes(minilm_bin, tmp_path):
    out = tmp_path / "m.safetensors"
    run = CliRunner().invoke
    ok = run(main, ["convert", str(minilm_bin), "-o", str(out)], standalone_mode=False)
    assert ok.return_value == 0 and "104 tensors" in ok.output
    again = run(main, ["convert", str(minilm_bin), "-o", str(out)], standalone_mode=False)
    assert again.return_value == 2 and "already exists" in again.output
    forced = run(main, ["convert", str(minilm_bin), "-o", str(out), "--force"], standalone_mode=False)
    assert forced.return_value == 0
    broken = tmp_path / "broken.pt"
    broken.write_bytes(minilm_bin.read_bytes()[:5000])
    bad = run(main, ["convert", str(broken), "-o", str(tmp_path / "b.safetensors")], standalone_mode=False)
    assert bad.return_value == 2 and "Traceback" not in bad.output
    st = run(main, ["convert", str(out), "-o", str(tmp_path / "c.safetensors")], standalone_mode=False)
    assert st.return_value == 2 and "not a PyTorch or NumPy checkpoint" in st.output


def test_truncated_legacy_and_lying_storage(tmp_path):
    src = tmp_path / "l.pt"
    torch.save({"w": torch.randn(64, 64)}, src, _use_new_zipfile_serialization=False)
    data = src.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[:-100])
    with pytest.raises(LineageError, match="runs past the end of the file"):
        convert_checkpoint(cut, tmp_path / "cut.safetensors")
    assert not (tmp_path / "cut.safetensors").exists()



def test_tensor_named_like_the_metadata_key_is_refused(tmp_path):
    """A tensor named ``__metadata__`` would overwrite the header's metadata entry: a corrupt output."""
    src = tmp_path / "meta.pt"
    torch.save({"__metadata__": torch.ones(2), "w": torch.zeros(3)}, src)
    with pytest.raises(LineageError, match="__metadata__"):
        convert_checkpoint(src, tmp_path / "meta.safetensors")
    assert not (tmp_path / "meta.safetensors").exists()


def test_expanded_view_bomb_is_refused(tmp_path):
    """Four bytes of storage viewed (stride 0) as 40 GB would be hashed, compared and written in full."""
    src = tmp_path / "bomb.pt"
    torch.save({"w": torch.zeros(1).expand(100_000, 100_000)}, src)
    assert src.stat().st_size < 10_000
    with pytest.raises(LineageError, match="decompression bomb"):
        open_tensors(src)
    with pytest.raises(LineageError, match="decompression bomb"):
        convert_checkpoint(src, tmp_path / "bomb.safetensors")
    assert not (tmp_path / "bomb.safetensors").exists()
