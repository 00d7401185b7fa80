"""Taking the model away in the app: the Runs page's export downloads with their snippets, and the
Playground's table for several uploads (the same columns as `python -m core predict`)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import data, export, predict, trainer
from tests.conftest import png_bytes
from ui import state


def open_runs(at: AppTest, selected) -> AppTest:
    at.session_state[state.COMPARE_RUNS] = list(selected)
    at.switch_page(state.RUNS).run()
    assert not at.exception, at.exception
    return at


def export_buttons(at: AppTest) -> dict:
    return {b.proto.id.split("runs_export_")[1].split("-")[0]: b.proto for b in at.get("download_button")
            if "runs_export_" in b.proto.id}


def test_the_runs_page_offers_each_export_with_its_snippet(app, trained_run, store):
    at = open_runs(app, [trained_run])
    buttons = export_buttons(at)
    assert sorted(buttons) == sorted(export.FORMATS)
    assert [buttons[f].label for f in export.FORMATS] == ["ONNX", "TorchScript", "State dict (.pth)"]
    assert not any(b.disabled for b in buttons.values())
    codes = [c.value for c in at.code]
    assert any(f'ort.InferenceSession("{trained_run}_best.onnx")' in c for c in codes)
    assert any(f'torch.jit.load("{trained_run}_best.pt")' in c for c in codes)
    assert any('build_model("lenet5", (1, 28, 28), 10)' in c for c in codes)
    assert [e.label for e in at.expander if e.label.startswith("How to load")] == [
        "How to load the ONNX file", "How to load the TorchScript file", "How to load the State dict (.pth) file"]
    at.segmented_control(key="runs_export_which").set_value("last").run()
    assert any(f'torch.load("{trained_run}_last.pth"' in c.value for c in at.code)
    assert "last weights" in export_buttons(at)["pth"].help


def test_export_buttons_say_why_they_are_disabled(app, trained_run, store, monkeypatch):
    needs = "ONNX export needs the package(s) onnx: pip install 'onnx'"
    monkeypatch.setattr(export, "missing_packages", lambda fmt: needs if fmt == "onnx" else None)
    store.file(trained_run, "weights_last.safetensors").unlink()
    at = open_runs(app, [trained_run])
    buttons = export_buttons(at)
    assert buttons["onnx"].disabled and "pip install" in buttons["onnx"].help
    assert not buttons["pth"].disabled
    at.segmented_control(key="runs_export_which").set_value("last").run()
    buttons = export_buttons(at)
    assert buttons["pth"].disabled and "no last weights" in buttons["pth"].help


def test_a_damaged_run_offers_no_export(app, trained_run, store):
    store.file(trained_run, "model.json").write_text("[]")
    at = open_runs(app, [trained_run])
    assert not export_buttons(at)
    assert any("No model export" in c.value and "model.json must hold a JSON object" in c.value for c in at.caption)


def test_several_uploads_give_the_predict_table(trained_run, store):
    at = AppTest.from_file("../streamlit_app.py", default_timeout=120)
    at.switch_page("pages/playground.py").run()
    at.segmented_control(key="play_mode_True").set_value("Upload").run()
    at.toggle(key="play_center").set_value(False).run()
    test = data.load("mnist_sample").test
    files = [(f"digit{i}.png", png_bytes(test.images[i, 0].numpy()), "image/png") for i in range(2)]
    at.file_uploader(key="play_upload").set_value([*files, ("bad.png", b"\x00not an image", "image/png")]).run()
    assert not at.exception, at.exception
    assert len(at.dataframe) == 1
    table = at.dataframe[0].value
    assert list(table.columns) == list(predict.COLUMNS)
    assert list(table["file"]) == ["digit0.png", "digit1.png"]
    model, meta = trainer.load_model(store, trained_run, "best")
    want, _ = predict.classify(model, meta, [(n, b) for n, b, _ in files], center=False)
    assert table.to_dict("records") == want
    assert "bad.png" in at.error[0].value and "not an image" in at.error[0].value
    assert not [m for m in at.markdown if "font-size:3.5rem" in m.value]  # no single-image view
    at.file_uploader(key="play_upload").set_value(files[:1]).run()
    assert not at.dataframe
    assert [m for m in at.markdown if "font-size:3.5rem" in m.value]


def test_a_failed_export_click_is_explained_on_the_next_run(app, trained_run, store, monkeypatch):
    from ui import export_ui

    def broken(*a, **k):
        raise export.ExportError("the exported ONNX model predicts differently from PyTorch on 3 of 256 images")

    monkeypatch.setattr(export, "export_bytes", broken)
    monkeypatch.setattr(export_ui, "FAILURES", {})
    with pytest.raises(export.ExportError):
        export_ui.build(store, trained_run, "onnx", "best")  # what the ONNX button runs when clicked
    at = open_runs(app, [trained_run])
    assert [e.value for e in at.error] == [
        "The last ONNX export failed: the exported ONNX model predicts differently from PyTorch on 3 of 256 images"]
    monkeypatch.setattr(export, "export_bytes", lambda *a, **k: b"onnx bytes")
    assert export_ui.build(store, trained_run, "onnx", "best") == b"onnx bytes"
    assert not open_runs(app, [trained_run]).error
