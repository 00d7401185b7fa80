"""`python -m core export` and `python -m core predict` on a real trained LeNet-5 and PNG files
written into temporary folders: outputs, the CSV, and a message for every bad input."""
from __future__ import annotations

import csv
import io
import os

import numpy as np
import pytest

from core import data, trainer
from core.cli import main
from tests.conftest import png_bytes


def run(store, *argv) -> int:
    return main(["--checkpoints", str(store.root), *argv])


@pytest.fixture
def pictures(tmp_path):
    """Four real test digits as PNGs (two in a subfolder), a damaged PNG, a text file and a hidden file."""
    test = data.load("mnist_sample").test
    folder = tmp_path / "pictures"
    (folder / "more").mkdir(parents=True)
    names = ["a.png", "b.png", "more/c.png", "more/d.PNG"]
    for i, name in enumerate(names):
        (folder / name).write_bytes(png_bytes(test.images[i, 0].numpy()))
    whole = png_bytes(np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8))
    (folder / "more" / "broken.png").write_bytes(whole[:len(whole) // 2])  # a copy cut short
    (folder / "notes.txt").write_text("not a picture")
    (folder / ".hidden.png").write_bytes(b"junk")
    return folder, names, test.images[:4]


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_export_writes_the_file_and_prints_how_to_load_it(store, trained_run, tmp_path, capsys):
    assert run(store, "export", trained_run, "--format", "torchscript", "--which", "last", "--out", str(tmp_path)) == 0
    out = capsys.readouterr().out
    path = tmp_path / f"{trained_run}_last.pt"
    assert path.is_file() and f"wrote {path} (TorchScript, last weights)" in out
    assert "checked: same predictions as PyTorch on the first 256 test images of mnist_sample" in out
    assert f'model = torch.jit.load("{path}").eval()' in out and "CLASSES = ['0', '1'" in out


def test_export_errors_are_messages_with_exit_codes(store, trained_run, tmp_path, capsys):
    assert run(store, "export", "nope", "--format", "pth") == 2
    assert "no run 'nope'" in capsys.readouterr().err
    assert run(store, "export", trained_run, "--format", "pth", "--out", str(tmp_path / "no" / "x.pth")) == 1
    assert "does not exist; create it or choose another --out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(store, "export", trained_run, "--format", "keras")
    assert "invalid choice: 'keras'" in capsys.readouterr().err
    os.remove(store.file(trained_run, "weights_best.safetensors"))
    assert run(store, "export", trained_run, "--format", "pth", "--out", str(tmp_path)) == 2
    assert "no saved weights (weights_best.safetensors is missing)" in capsys.readouterr().err


def test_predict_classifies_a_folder_recursively_and_lists_what_it_skipped(store, trained_run, pictures, capsys):
    folder, names, images = pictures
    assert run(store, "predict", trained_run, str(folder), "--no-center") == 1  # 1: some files skipped
    captured = capsys.readouterr()
    rows = read_csv(captured.out)
    assert [r["file"] for r in rows] == [str(folder / n) for n in names]
    model, meta = trainer.load_model(store, trained_run, "best")
    from core.inspect import predict_proba

    probs = predict_proba(model, images, meta.mean, meta.std)
    assert [r["predicted"] for r in rows] == [meta.classes[i] for i in probs.argmax(1)]
    for row, p in zip(rows, probs):
        assert float(row["probability"]) == pytest.approx(float(p.max()), abs=1e-4)
        top = row["top3"].split(";")
        assert len(top) == 3 and top[0].split(":")[0] == row["predicted"]
        assert [float(t.split(":")[1]) for t in top] == sorted((float(t.split(":")[1]) for t in top), reverse=True)
    err = captured.err
    broken = [line for line in err.splitlines() if line.startswith(f"skipped {folder / 'more' / 'broken.png'}: ")]
    assert len(broken) == 1 and "truncated or damaged" in broken[0], err
    assert "ignored 1 file(s) in the folders without an image extension" in err  # notes.txt; .hidden.png unseen
    assert ".hidden" not in captured.out + err


def test_predict_writes_a_csv_file_and_names_bad_arguments(store, trained_run, pictures, tmp_path, capsys):
    folder, names, _ = pictures
    out = tmp_path / "predictions.csv"
    code = run(store, "predict", trained_run, str(folder / "a.png"), str(folder / "notes.txt"),
               str(tmp_path / "missing.png"), "--out", str(out))
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert [r["file"] for r in read_csv(out.read_text())] == [str(folder / "a.png")]
    assert f"skipped {folder / 'notes.txt'}: not an image (unrecognised file format)" in captured.err
    assert f"skipped {tmp_path / 'missing.png'}: no such file or folder" in captured.err
    assert f"wrote 1 prediction(s) to {out}" in captured.err


def test_predict_with_nothing_to_classify_or_a_bad_run_says_so(store, trained_run, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no pictures here")
    assert run(store, "predict", trained_run, str(empty)) == 2
    assert "no image files found; pass image files or folders holding them" in capsys.readouterr().err
    assert run(store, "predict", "nope", str(empty)) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    store.file(trained_run, "model.json").write_text("{broken")
    assert run(store, "predict", trained_run, str(empty)) == 2
    assert "cannot be used for inference: model.json is not valid JSON" in capsys.readouterr().err


def test_predict_uses_the_runs_colour_and_size(store, monkeypatch, tmp_path, capsys):
    """A colour run fits a grayscale file of another size to its own (3, 12, 12) input."""
    from core.config import RunConfig
    from core.inspect import predict_proba
    from core.preprocess import image_to_input
    from tests.conftest import make_synthetic

    ds = make_synthetic(shape=(3, 12, 12))
    monkeypatch.setattr(data, "load", lambda name, *a, **k: ds)
    monkeypatch.setattr(data, "is_known", lambda name, *a, **k: True)
    run_id, result = trainer.new_run(store, RunConfig(dataset="synthetic", arch="lenet5", epochs=1, batch_size=32))
    assert result.status == "completed", result.message
    gray = np.zeros((40, 24), np.uint8)
    gray[:20, :12] = 230
    (tmp_path / "gray.png").write_bytes(png_bytes(gray))
    assert run(store, "predict", run_id, str(tmp_path / "gray.png")) == 0
    rows = read_csv(capsys.readouterr().out)
    model, meta = trainer.load_model(store, run_id, "best")
    x = image_to_input(png_bytes(gray), 3, (12, 12))
    assert x.shape == (3, 12, 12)
    probs = predict_proba(model, x, meta.mean, meta.std)[0]
    assert len(rows) == 1 and rows[0]["predicted"] == ds.classes[int(probs.argmax())]
    assert float(rows[0]["probability"]) == pytest.approx(float(probs.max()), abs=1e-4)


@pytest.mark.slow
def test_the_readme_commands_in_a_fresh_process(store, trained_run, pictures, tmp_path):
    """A fresh interpreter: core stays free of Streamlit, the ONNX exporter's own chatter stays out
    of standard output, and predict's CSV is all that standard output holds."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "CNN_STUDIO_CHECKPOINTS": str(store.root)}
    check = subprocess.run([sys.executable, "-c", "import sys, core.cli, core.export, core.predict; "
                            "print('streamlit' in sys.modules)"], cwd=root, env=env, capture_output=True, text=True)
    assert check.stdout.strip() == "False", check.stderr
    out = subprocess.run([sys.executable, "-m", "core", "export", trained_run, "--format", "onnx", "--out",
                          str(tmp_path / "m.onnx")], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"wrote {tmp_path / 'm.onnx'} (ONNX, best weights) in ")
    folder, names, _ = pictures
    pred = subprocess.run([sys.executable, "-m", "core", "predict", trained_run, str(folder / "a.png"),
                           str(folder / "b.png")], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert pred.returncode == 0, pred.stderr
    lines = pred.stdout.splitlines()
    assert lines[0] == "file,predicted,probability,top3" and len(lines) == 3
