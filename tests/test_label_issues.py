"""cleanlab's label-issue finder on out-of-sample probabilities, and `python -m core label-issues`."""
import re

import numpy as np
import pytest

from core import checkpoints, cli, label_issues


def _planted(n=900, classes=3, flips=12, seed=0):
    """Probabilities of a good classifier of the TRUE classes, and labels with `flips` of them changed."""
    rng = np.random.default_rng(seed)
    truth = np.arange(n) % classes
    logits = rng.normal(0, 0.5, (n, classes))
    logits[np.arange(n), truth] += 4.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = truth.copy()
    flipped = rng.choice(n, flips, replace=False)
    labels[flipped] = (truth[flipped] + 1 + rng.integers(0, classes - 1, flips)) % classes
    return labels, probs, truth, flipped


def test_planted_label_flips_rank_first_with_the_true_class_suggested():
    labels, probs, truth, flipped = _planted()
    table = label_issues.find(labels, probs)
    top = table.head(len(flipped))
    assert set(table["index"]) == set(flipped)  # the model disputes exactly the flipped labels
    # confident learning flags them (its estimate of how many labels are wrong may miss one or two)
    assert top["flagged"].sum() >= len(flipped) - 2
    assert np.array_equal(top["suggested"].to_numpy(), truth[top["index"].to_numpy()])
    assert np.array_equal(top["given"].to_numpy(), labels[top["index"].to_numpy()])
    assert top["score"].is_monotonic_increasing


def test_too_few_images_is_a_clear_message():
    with pytest.raises(label_issues.LabelIssueError, match="too few"):
        label_issues.find([0, 1], np.eye(2))


def _plant_in_run(store, run_id, flips=3):
    """Make the run's saved test labels wrong for the `flips` images the model is surest of (right
    ones, so the flip contradicts a confident prediction); returns the labels and those images."""
    preds = checkpoints.load_predictions(store, run_id, "best")
    labels = preds["labels"].clone()
    confidence = preds["probs"].max(1).values.masked_fill(preds["preds"] != labels, -1.0)
    chosen = confidence.argsort(descending=True)[:flips].tolist()
    for i in chosen:
        labels[i] = (int(preds["probs"][i].argmax()) + 1) % preds["probs"].shape[1]
    checkpoints.save_predictions(store, run_id, "best", labels, preds["preds"], preds["probs"], preds["losses"])
    return labels, set(chosen)


def test_cli_prints_one_line_per_image_most_suspicious_first(store, trained_run, capsys):
    labels, planted = _plant_in_run(store, trained_run)
    code = cli.main(["--checkpoints", str(store.root), "label-issues", trained_run, "--top", "5"])
    out, err = capsys.readouterr()
    assert code == 0
    rows = out.splitlines()
    assert len(rows) == 5 and "image(s) of the test set" in err
    parsed = []
    for row in rows:
        m = re.fullmatch(r"\s*(\d+)\s+(\S+)\s+(\S+)\s+(\d\.\d{6})(  \*)?", row)
        assert m, row
        parsed.append((int(m[1]), m[2], m[3], float(m[4])))
    scores = [p[3] for p in parsed]
    assert scores == sorted(scores)
    for index, given, _, _ in parsed:
        assert given == str(int(labels[index]))  # the given label, by class name (digits here)
    assert planted <= {p[0] for p in parsed}  # the planted flips are the most suspicious


def test_cli_on_validation_share_reports_training_split_positions(store, trained_run, capsys):
    code = cli.main(["--checkpoints", str(store.root), "label-issues", trained_run, "--split", "val", "--which",
                     "last"])
    out, _ = capsys.readouterr()
    assert code == 0
    held = checkpoints.load_predictions(store, trained_run, "last", "val")["index"].numpy()
    assert {int(line.split()[0]) for line in out.splitlines()} <= set(held.tolist())
