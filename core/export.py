"""Taking a trained model away: a run's weights as ONNX, TorchScript or a `.pth` state dict.

Every export is checked before it is handed over: the written file is loaded back the way a user
would load it (onnxruntime, torch.jit.load, load_state_dict) and must give the same predictions as
the run's PyTorch model on a batch of its test set. All three take the same input as the model in
training: float (N, C, H, W), scaled to 0-1 and normalised with the run's mean/std; they return
logits. `snippet()` writes that preprocessing out as a short, runnable "how to load this".

Exports go to a path the caller chooses (or a temporary file), never into the run folder.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from core.run_files import ModelMeta
from core.runs import RunError, RunStore

FORMATS = ("onnx", "torchscript", "pth")
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt", "pth": ".pth"}
TITLE = {"onnx": "ONNX", "torchscript": "TorchScript", "pth": "PyTorch state dict (.pth)"}
CHECK_IMAGES = 256
# Argmax may differ only where PyTorch itself saw a tie: both classes within this probability.
TIE = 1e-5
INPUT_NAME, OUTPUT_NAME = "image", "logits"
ONNX_PACKAGES = "onnx>=1.17,<2 onnxscript>=0.5,<1 onnxruntime>=1.20,<2"  # as in requirements.txt


class ExportError(Exception):
    """An export that cannot be made or did not pass its check; the message says what to do."""


@dataclass(frozen=True)
class Exported:
    path: Path
    format: str
    which: str
    snippet: str
    check: str          # what the reloaded file was compared on, and how closely it agreed
    seconds: float


def file_name(run_id: str, fmt: str, which: str) -> str:
    return f"{run_id}_{which}{SUFFIX[_format(fmt)]}"


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    return fmt


def missing_packages(fmt: str) -> str | None:
    """Why `fmt` cannot be exported in this environment (a pip command), or None when it can."""
    if _format(fmt) != "onnx":
        return None
    absent = [p for p in ("onnx", "onnxscript", "onnxruntime") if not _installed(p)]
    if not absent:
        return None
    return (f"ONNX export needs the package(s) {', '.join(absent)}, which are not installed: "
            f"pip install {' '.join(repr(p) for p in ONNX_PACKAGES.split())}")


def _installed(package: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # ValueError: a module present in sys.modules without a spec
        return False


# ---- export ----------------------------------------------------------------------------------

def export(store: RunStore, run_id: str, fmt: str, *, which: str = "best", out: Path | str | None = None,
           data_dir=None) -> Exported:
    """Write run `run_id`'s `which` weights as `fmt` to `out` (a file, or a folder to put
    file_name() in; default: the current folder), check it, and return where and how to load it.
    RunError: the run cannot be loaded; ExportError: the format cannot be made or failed its check."""
    from core import trainer
    from core.predict import require_run

    _format(fmt)
    problem = missing_packages(fmt)
    if problem:
        raise ExportError(problem)
    if which not in ("best", "last"):
        raise ExportError(f"weights must be best or last, got {which!r}")
    require_run(store, run_id)
    path = _target(out, file_name(run_id, fmt, which))
    started = time.perf_counter()
    model, meta = trainer.load_model(store, run_id, which)
    images, source = check_images(store, run_id, meta, data_dir)
    x = normalised(images, meta)
    with torch.no_grad():
        expected = torch.softmax(model(x), dim=1)
    # an example batch of at least two: torch.export would fix a batch of one as a constant
    example = x[:2] if len(x) >= 2 else x.repeat(2, 1, 1, 1)
    # written beside the target and moved there only once checked: a failed export leaves no file
    partial = path.with_name(f".{path.name}.partial")
    try:
        {"onnx": _write_onnx, "torchscript": _write_torchscript, "pth": _write_pth}[fmt](model, example, partial)
        got = {"onnx": _run_onnx, "torchscript": _run_torchscript, "pth": _run_pth}[fmt](partial, x, store, run_id)
        check = compare(expected, got, source, fmt)
        os.replace(partial, path)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    cfg = store.read_config(run_id)
    return Exported(path, fmt, which, snippet(fmt, meta, str(path), run_id=run_id, which=which,
                                              custom_layers=cfg.custom_layers),
                    check, time.perf_counter() - started)


def export_bytes(store: RunStore, run_id: str, fmt: str, *, which: str = "best", data_dir=None) -> bytes:
    """The checked export as bytes (for a download button), made in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="cnn-studio-export-") as tmp:
        return export(store, run_id, fmt, which=which, out=tmp, data_dir=data_dir).path.read_bytes()


def _target(out, default_name: str) -> Path:
    path = Path(out) if out else Path.cwd()
    if path.is_dir():
        path = path / default_name
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: the folder {path.parent} does not exist; create it or "
                          "choose another --out")
    return path


def check_images(store: RunStore, run_id: str, meta: ModelMeta, data_dir=None) -> tuple[torch.Tensor, str]:
    """uint8 images to compare the export on: the run's test set, or random images when its
    dataset is not on this machine (the description says which)."""
    from core import data

    try:
        dataset = store.read_config(run_id).dataset
        test = data.load(dataset, data_dir).test
        if not len(test.images):
            reason = "its test split is empty"
        elif tuple(test.images.shape[1:]) == tuple(meta.image_shape):
            images = test.images[:CHECK_IMAGES]
            return images, f"the first {len(images)} test images of {dataset}"
        else:
            reason = f"its images are {tuple(test.images.shape[1:])}, the model takes {meta.image_shape}"
    except (data.DatasetError, KeyError, RunError) as exc:
        reason = str(exc.args[0] if exc.args else exc)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (CHECK_IMAGES, *meta.image_shape), generator=g, dtype=torch.uint8)
    return images, f"{CHECK_IMAGES} random images (the run's test set is not available here: {reason})"


def normalised(images: torch.Tensor, meta: ModelMeta) -> torch.Tensor:
    """uint8 (N, C, H, W) -> the float input the model was trained on (as core.inspect.predict_proba)."""
    m = torch.tensor(meta.mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(meta.std, dtype=torch.float32).view(1, -1, 1, 1)
    return (images.float() / 255 - m) / s


def compare(expected: torch.Tensor, got: torch.Tensor, source: str, fmt: str) -> str:
    """A sentence saying how the reloaded export agreed with PyTorch; ExportError when it does not."""
    got = got.float()
    if got.shape != expected.shape:
        raise ExportError(f"the exported {TITLE[fmt]} model returned shape {tuple(got.shape)} instead of "
                          f"{tuple(expected.shape)}; the export is broken — please report it")
    mine, theirs = expected.argmax(1), got.argmax(1)
    rows = torch.arange(len(mine))
    # a differing argmax only counts when PyTorch did not see the two classes as tied
    differ = (mine != theirs) & ((expected[rows, mine] - expected[rows, theirs]) > TIE)
    gap = float((expected - got).abs().max()) if len(got) else 0.0
    if differ.any():
        raise ExportError(f"the exported {TITLE[fmt]} model predicts differently from PyTorch on "
                          f"{int(differ.sum())} of {len(mine)} images ({source}; largest probability "
                          f"difference {gap:.2g}); it was not handed over — please report it")
    return f"same predictions as PyTorch on {source} (largest probability difference {gap:.1g})"


# ---- the three formats: write, then load back as a user would ---------------------------------------

def _write_onnx(model, x, path: Path) -> None:
    batch = torch.export.Dim("batch")
    try:
        # the exporter reports progress on stdout, which is the CLI's output channel
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # external_data=False: one self-contained file (models here are far below ONNX's 2 GB limit);
            # the default writes the weights to a second PATH.data file that a download would lose
            torch.onnx.export(model, (x,), str(path), dynamo=True, verbose=False, external_data=False,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_shapes=({0: batch},))
    except Exception as exc:  # the exporter raises many types; all mean "this model did not export"
        raise ExportError(f"PyTorch could not export this model to ONNX ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}); try TorchScript or .pth") from None


def _run_onnx(path: Path, x, store, run_id) -> torch.Tensor:
    try:
        import onnxruntime as ort
    except ImportError as exc:  # installed but broken (missing_packages saw it): say so, no traceback
        raise ExportError(f"onnxruntime cannot be imported ({exc}); reinstall it: "
                          "pip install 'onnxruntime>=1.20,<2'") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {INPUT_NAME: x.numpy()})[0]
    return torch.softmax(torch.from_numpy(logits), dim=1)


def _write_torchscript(model, x, path: Path) -> None:
    # trace, not script: every architecture here is a fixed feed-forward graph, and tracing takes
    # custom layer stacks too. torch.jit is deprecated in favour of torch.export but still the one
    # format that loads without Python source; the warnings are not the user's to act on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            traced = torch.jit.trace(model, x, check_trace=False)
        except Exception as exc:
            raise ExportError(f"this model could not be traced to TorchScript ({exc}); try ONNX or .pth") from None
        traced.save(str(path))


def _run_torchscript(path: Path, x, store, run_id) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return torch.softmax(loaded(x), dim=1)


def _write_pth(model, x, path: Path) -> None:
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)


def _run_pth(path: Path, x, store, run_id) -> torch.Tensor:
    from core import models

    cfg, meta = store.read_config(run_id), store.read_model(run_id)
    fresh = models.build_model(cfg.arch, meta.image_shape, len(meta.classes), cfg.custom_layers).eval()
    fresh.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    with torch.no_grad():
        return torch.softmax(fresh(x), dim=1)


# ---- "how to load this" -------------------------------------------------------------------------

def snippet(fmt: str, meta: ModelMeta, path: str, *, run_id: str = "", which: str = "best",
            custom_layers=()) -> str:
    """Runnable Python that loads the exported file at `path` and classifies one picture, with
    the run's own input size, colour, normalisation and class names written in."""
    _format(fmt)
    channels, height, width = meta.image_shape
    gray = channels == 1
    needs = {"onnx": "onnxruntime numpy pillow", "torchscript": "torch numpy pillow",
             "pth": "torch numpy pillow, and this repository (CNN Studio) on the Python path"}[fmt]
    lines = [
        f"# {meta.arch} from CNN Studio run {run_id} ({which} weights) as {TITLE[fmt]}",
        f"# Needs: {needs}",
        "import numpy as np",
        *{"onnx": ["import onnxruntime as ort"], "torchscript": ["import torch"], "pth": ["import torch"]}[fmt],
        "from PIL import Image, ImageOps",
        *(["", "from core.models import build_model"] if fmt == "pth" else []),
        "",
        f"CLASSES = {list(meta.classes)!r}",
        f"MEAN = np.array({list(meta.mean)}, np.float32).reshape(-1, 1, 1)",
        f"STD = np.array({list(meta.std)}, np.float32).reshape(-1, 1, 1)",
        "",
        "def load_image(path):",
        f'    """A picture as the model saw its training images: {height}×{width} '
        f'{"gray" if gray else "RGB"}, 0-1, normalised."""',
        f'    img = Image.open(path).convert("{"L" if gray else "RGB"}")',
    ]
    if gray:
        lines.append("    if np.median(np.asarray(img)) > 127:  # dark on light: the model saw light on dark")
        lines.append("        img = ImageOps.invert(img)")
    lines += [
        f"    img = ImageOps.pad(img, ({width}, {height}))  # fit, keeping the aspect ratio",
        "    x = np.asarray(img, np.float32) / 255.0",
        f"    x = {'x[None]' if gray else 'x.transpose(2, 0, 1)'}  # (C, H, W)",
        "    return ((x - MEAN) / STD)[None]  # a batch of one: (1, C, H, W)",
        "",
    ]
    if fmt == "onnx":
        lines += [f'session = ort.InferenceSession("{path}")',
                  f'logits = session.run(None, {{"{INPUT_NAME}": load_image("picture.png")}})[0][0]']
    else:
        if fmt == "torchscript":
            lines.append(f'model = torch.jit.load("{path}").eval()')
        else:
            layers = f", {[dict(layer) for layer in custom_layers]!r}" if custom_layers else ""
            lines += [f'model = build_model("{meta.arch}", {tuple(meta.image_shape)}, {len(meta.classes)}{layers})',
                      f'model.load_state_dict(torch.load("{path}", weights_only=True))',
                      "model.eval()"]
        lines += ["with torch.no_grad():",
                  '    logits = model(torch.from_numpy(load_image("picture.png")))[0].numpy()']
    lines += ["probs = np.exp(logits - logits.max())",
              "probs /= probs.sum()",
              "print(CLASSES[int(probs.argmax())], f\"{probs.max():.1%}\")"]
    return "\n".join(lines) + "\n"
