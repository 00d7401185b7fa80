"""Exports of a real trained LeNet-5: each format is loaded back independently here (onnxruntime,
torch.jit.load, load_state_dict) and must predict what the run's PyTorch model predicts; each
"how to load this" snippet runs as written; a bad export, a missing package, an unknown or damaged
run each end in a message."""
from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import pytest
import torch

from core import data, export, models, trainer
from core.runs import RunError, RunStore
from tests.conftest import png_bytes

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def exported(_trained_once, tmp_path_factory):
    """Each format exported once for the module (the ONNX export takes seconds)."""
    store = RunStore(_trained_once.parent)
    out = tmp_path_factory.mktemp("exports")
    return store, _trained_once.name, {fmt: export.export(store, _trained_once.name, fmt, out=out)
                                       for fmt in export.FORMATS}


def reference(store, run_id):
    """The run's PyTorch model, its meta and its normalised first test images."""
    model, meta = trainer.load_model(store, run_id, "best")
    images = data.load(store.read_config(run_id).dataset).test.images[:200]
    return model, meta, export.normalised(images, meta)


def load_back(fmt: str, path: Path, store, run_id):
    """A callable float batch -> logits, loaded the way a user of that format would."""
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: torch.from_numpy(session.run(None, {"image": x.numpy()})[0])
    if fmt == "torchscript":
        return torch.jit.load(str(path))
    cfg, meta = store.read_config(run_id), store.read_model(run_id)
    model = models.build_model(cfg.arch, meta.image_shape, len(meta.classes)).eval()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_each_format_loads_back_and_predicts_like_pytorch(exported, fmt):
    store, run_id, done = exported
    result = done[fmt]
    assert result.path.is_file() and result.path.suffix == export.SUFFIX[fmt]
    assert result.check.startswith("same predictions as PyTorch on the first 256 test images of mnist_sample")
    # one self-contained file: nothing beside it that a download would lose
    assert not [p.name for p in result.path.parent.iterdir() if p.name.startswith(result.path.name + ".")]
    model, meta, x = reference(store, run_id)
    run = load_back(fmt, result.path, store, run_id)
    with torch.no_grad():
        want, got = model(x), run(x)
    assert got.shape == (200, 10)  # a batch size other than the export's example batch of 2
    assert torch.equal(got.argmax(1), want.argmax(1))
    assert torch.allclose(torch.softmax(got, 1), torch.softmax(want, 1), atol=1e-4)


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_each_snippet_runs_as_written_and_agrees_with_the_model(exported, fmt, tmp_path, monkeypatch):
    store, run_id, done = exported
    result = done[fmt]
    model, meta, _ = reference(store, run_id)
    digit = data.load("mnist_sample").test.images[3, 0].numpy()
    (tmp_path / "picture.png").write_bytes(png_bytes(255 - digit))  # dark on light: the snippet inverts it
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))  # the .pth snippet imports the model code from this repository
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(result.snippet, f"snippet-{fmt}", "exec"), {"__name__": "snippet"})
    predicted, sure = out.getvalue().split()
    with torch.no_grad():
        probs = torch.softmax(model(export.normalised(torch.from_numpy(digit)[None, None], meta)), 1)[0]
    assert predicted == meta.classes[int(probs.argmax())]
    assert sure == f"{float(probs.max()):.1%}"
    assert f'"{result.path}"' in result.snippet and "MEAN = np.array([0.13" in result.snippet


def test_an_export_that_predicts_differently_is_refused(store, trained_run, monkeypatch, tmp_path):
    (tmp_path / "out").mkdir()
    monkeypatch.setattr(export, "_run_pth", lambda path, x, *a: torch.softmax(-torch.ones(len(x), 10).cumsum(1), 1))
    with pytest.raises(export.ExportError, match=r"predicts differently from PyTorch on \d+ of 256 images"):
        export.export(store, trained_run, "pth", out=tmp_path / "out")
    assert not list((tmp_path / "out").iterdir())  # nothing half-checked is left where the user looks


def test_ties_do_not_count_as_different_predictions():
    tied = torch.tensor([[0.5, 0.5, 0.0]])
    assert "same predictions" in export.compare(tied, torch.tensor([[0.4999999, 0.5000001, 0.0]]), "x", "onnx")
    with pytest.raises(export.ExportError, match="1 of 1"):
        export.compare(torch.tensor([[0.6, 0.4, 0.0]]), torch.tensor([[0.4, 0.6, 0.0]]), "x", "onnx")


def test_without_the_test_set_random_images_check_it_and_say_so(store, trained_run, monkeypatch, tmp_path):
    def missing(*a, **k):
        raise data.DatasetError("mnist_sample is not here")

    monkeypatch.setattr(data, "load", missing)
    result = export.export(store, trained_run, "torchscript", which="last", out=tmp_path / "m.pt")
    assert result.path == tmp_path / "m.pt" and result.which == "last"
    assert "256 random images (the run's test set is not available here: mnist_sample is not here)" in result.check


def test_missing_onnx_packages_say_how_to_install(store, trained_run, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails, as when absent
    with pytest.raises(export.ExportError, match=r"needs the package\(s\) onnxruntime.*pip install 'onnx>="):
        export.export(store, trained_run, "onnx")
    assert export.missing_packages("pth") is None
    assert export.export(store, trained_run, "pth", out=tmp_path).path.is_file()  # the other formats still work


def test_bad_runs_formats_and_folders_get_messages(store, trained_run, tmp_path):
    with pytest.raises(RunError, match="no run 'nope'.*python -m core runs"):
        export.export(store, "nope", "pth")
    with pytest.raises(export.ExportError, match="unknown export format 'keras'"):
        export.export(store, trained_run, "keras")
    with pytest.raises(export.ExportError, match="folder .*missing does not exist"):
        export.export(store, trained_run, "pth", out=tmp_path / "missing" / "m.pth")
    os.remove(store.file(trained_run, "model.json"))
    with pytest.raises(RunError, match="cannot be used for inference: model.json is missing"):
        export.export(store, trained_run, "pth", out=tmp_path)


def test_export_bytes_leaves_no_file_behind(store, trained_run, tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = sorted(p.name for p in store.path(trained_run).iterdir())
    blob = export.export_bytes(store, trained_run, "pth")
    state = torch.load(io.BytesIO(blob), weights_only=True)
    model, _ = trainer.load_model(store, trained_run, "best")
    assert state.keys() == model.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert not list(cwd.iterdir()) and sorted(p.name for p in store.path(trained_run).iterdir()) == before


def test_the_readme_shows_the_snippet_the_code_writes(store, trained_run):
    meta = store.read_model(trained_run)
    text = export.snippet("onnx", meta, "model.onnx", run_id="RUN_ID", which="best")
    assert text in (ROOT / "README.md").read_text(encoding="utf-8")


TINY = [{"type": "conv", "out_channels": 4, "kernel_size": 3}, {"type": "relu"}, {"type": "maxpool"},
        {"type": "flatten"}, {"type": "linear", "out_features": 4}]


@pytest.mark.parametrize("fmt,arch,layers", [("torchscript", "lenet5", ()), ("pth", "custom", TINY),
                                             ("onnx", "custom", TINY)])
def test_snippets_for_colour_runs_and_custom_layer_stacks_run_as_written(fmt, arch, layers, store, monkeypatch,
                                                                         tmp_path):
    """The RGB branch of the snippet (HWC -> CHW) and a custom stack written into the .pth snippet."""
    from core.config import RunConfig
    from tests.conftest import make_synthetic

    ds = make_synthetic(shape=(3, 12, 12))
    monkeypatch.setattr(data, "load", lambda name, *a, **k: ds)
    monkeypatch.setattr(data, "is_known", lambda name, *a, **k: True)
    run_id, result = trainer.new_run(store, RunConfig(dataset="synthetic", arch=arch, custom_layers=layers,
                                                      epochs=1, batch_size=32))
    assert result.status == "completed", result.message
    done = export.export(store, run_id, fmt, out=tmp_path)
    assert 'convert("RGB")' in done.snippet
    # 256 asked for, the whole 64-image test set used
    assert done.check.startswith("same predictions as PyTorch on the first 64 test images of synthetic")
    picture = ds.test.images[1].permute(1, 2, 0).contiguous().numpy()  # (H, W, 3) for the PNG
    (tmp_path / "picture.png").write_bytes(png_bytes(picture))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(done.snippet, f"snippet-{fmt}", "exec"), {"__name__": "snippet"})
    model, meta = trainer.load_model(store, run_id, "best")
    with torch.no_grad():
        probs = torch.softmax(model(export.normalised(ds.test.images[1:2], meta)), 1)[0]
    assert out.getvalue().split() == [meta.classes[int(probs.argmax())], f"{float(probs.max()):.1%}"]
