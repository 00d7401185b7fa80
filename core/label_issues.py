"""Images whose given label is probably wrong, found by cleanlab (confident learning).

cleanlab needs out-of-sample probabilities: ones from a model that never trained on the image.
A run has two sets of them: its test-set predictions, and, when it holds out a validation share,
its predictions on that share (both saved at the end of training, see core/trainer.py).

    find(labels, probs)   -> a table of issues, most suspicious first

Which images: those `cleanlab.filter.find_label_issues` flags (confident learning: the confident
joint, pruned by noise rate; `flagged` True), and every other image whose given label is not the
model's prediction. Confident learning alone often flags nothing on a very accurate model whose
probabilities label smoothing has compressed (fast_mnist on MNIST: 0 of 10,000), while the
images it would have to judge are still worth a look. All are ranked by
`cleanlab.rank.get_label_quality_scores(method="self_confidence")`, the probability the model
gives the given label: the lower, the more suspicious. The suggested label is the model's most
likely class.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core import checkpoints
from core import run_files as files
from core.runs import RunError, RunStore

METHOD = "self_confidence"
COLUMNS = ("index", "given", "suggested", "score", "flagged")
SPLIT_TITLES = {"test": "test set", "val": "validation share"}


class LabelIssueError(RuntimeError):
    """The finder cannot run on these probabilities; the message says why and what to do."""


def find(labels, probs) -> pd.DataFrame:
    """Issues as rows (position, given, suggested, score), most suspicious (lowest score) first."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise LabelIssueError("the probabilities and labels do not match (one row of probabilities per image)")
    if len(labels) < 2 * probs.shape[1] or len(np.unique(labels)) < 2:
        raise LabelIssueError(f"{len(labels)} images of {len(np.unique(labels))} class(es) are too few to tell "
                              "a wrong label from a hard image; it needs a few images of every class")
    try:
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores
    except ImportError:
        raise LabelIssueError("the label-issue finder needs cleanlab: pip install 'cleanlab>=2.9,<3'") from None
    probs = probs / probs.sum(1, keepdims=True)  # float32 softmax rows sum to 1 only within ~1e-6
    try:
        # n_jobs=1: cleanlab's default forks worker processes, which a web server thread must not do
        flagged = np.asarray(find_label_issues(labels, probs, n_jobs=1), dtype=bool)
        scores = get_label_quality_scores(labels, probs, method=METHOD)
    except (ValueError, AssertionError) as exc:
        raise LabelIssueError(f"cleanlab could not rank these labels: {exc}") from None
    suggested = probs.argmax(1)
    rows = np.flatnonzero(flagged | (suggested != labels))
    rows = rows[np.argsort(scores[rows], kind="stable")]
    return pd.DataFrame({"index": rows, "given": labels[rows], "suggested": suggested[rows], "score": scores[rows],
                         "flagged": flagged[rows]}, columns=list(COLUMNS))


def for_run(store: RunStore, run_id: str, which: str = "best", split: str = "test") -> pd.DataFrame:
    """`find` on a run's saved predictions. `index` is the test image's position, or for the
    validation share the image's position in the dataset's training split."""
    try:
        preds = checkpoints.load_predictions(store, run_id, which, split)
    except RunError:
        if split == "val" and not store.file(run_id, files.predictions(which, split)).exists():
            raise RunError(f"run {run_id} has no saved validation predictions: it holds no validation share, or "
                           "it was trained before CNN Studio saved them") from None
        raise
    table = find(preds["labels"].numpy(), preds["probs"].numpy())
    if split == "val":
        if "index" not in preds:
            raise RunError(f"{files.predictions(which, split)} of run {run_id} lacks the images' positions")
        table["index"] = preds["index"].numpy()[table["index"].to_numpy()]
    return table


def lines(table: pd.DataFrame, classes, top: int | None = None) -> list[str]:
    """The CLI's rows: index, given label, suggested label, score — aligned, one image per line —
    and a final `*` when confident learning flagged the image."""
    rows = table.head(top) if top else table
    names = [str(c) for c in classes]
    width = max((len(n) for n in names), default=1)
    return [f"{int(r.index):>6}  {names[int(r.given)]:>{width}}  {names[int(r.suggested)]:>{width}}  "
            f"{r.score:.6f}{'  *' if r.flagged else ''}" for r in rows.itertuples(index=False)]
