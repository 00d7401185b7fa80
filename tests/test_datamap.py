"""The data map: recorded from the training pass itself, saved with each epoch's checkpoint, kept
consistent through stop and resume, and a damaged file told as such."""
import threading

import numpy as np
import pytest
import torch

from core import datamap, trainer
from core import run_files as files
from core.augment import normalizer
from core.config import RunConfig
from core.engine import Batches, TrainState, train_one_epoch
from core.runs import RunError
from tests.test_engine import StopAt, cfg


class _Fixed:
    """A schedule with the LR at 0: the model never changes, so every batch's probabilities are
    those of one fixed model, which a plain forward pass can reproduce."""
    lr = 0.0

    def after_batch(self):
        pass


def test_recorded_values_are_the_training_pass_probability_of_each_images_label():
    torch.manual_seed(0)
    n, classes = 33, 3  # 33 = 4 batches of 8 + one image the batch rule leaves for the next epoch
    images = torch.randint(0, 256, (n, 1, 6, 6), dtype=torch.uint8)
    labels = torch.arange(n) % classes
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, classes))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    state = TrainState(model, optimizer, _Fixed(), torch.Generator().manual_seed(5))
    normalize = normalizer((0.5,), (0.25,), torch.device("cpu"))
    index = torch.arange(100, 100 + n)  # positions in the dataset's split, stored as they are
    recorder = datamap.DataMapRecorder(index, labels)
    config = RunConfig(batch_size=8)
    for epoch in (1, 2):
        train_one_epoch(state, Batches(images, labels), config, normalize, epoch=epoch, callbacks=[recorder])
    dm = recorder.table(2)

    with torch.no_grad():
        probs = model(normalize(images)).softmax(1)
    expected = probs[torch.arange(n), labels].numpy()
    right = (probs.argmax(1) == labels).numpy()
    assert dm.confidence.shape == dm.correct.shape == (2, n)
    assert np.array_equal(dm.index, index.numpy()) and np.array_equal(dm.labels, labels.numpy())
    for e in range(2):
        seen = dm.confidence[e] != files.UNSEEN
        assert seen.sum() == n - 1  # each epoch leaves out exactly one (shuffled) image
        got = datamap.probabilities(dm)[e]
        assert np.abs(got[seen] - expected[seen]).max() <= 0.5 / files.CONFIDENCE_SCALE + 1e-6
        assert np.array_equal(dm.correct[e][seen], right[seen].astype(np.uint8))
    table = datamap.summarize(dm)
    assert table["epochs"].min() >= 1 and table["variability"].max() < 0.01  # a fixed model: nothing varies


def test_summary_places_images_in_the_papers_regions():
    conf = np.array([[254, 20, 254, 255], [254, 25, 0, 255], [254, 20, 254, 255]], np.uint8)
    correct = np.array([[1, 0, 1, 255], [1, 0, 0, 255], [1, 0, 1, 255]], np.uint8)
    dm = files.DataMap(np.arange(4), np.zeros(4, np.int64), conf, correct)
    table = datamap.summarize(dm)
    assert list(table["region"]) == [datamap.EASY, datamap.HARD, datamap.AMBIGUOUS, ""]
    assert table["correctness"].iloc[2] == pytest.approx(2 / 3)
    assert table["variability"].iloc[2] == pytest.approx(np.std([1, 0, 1]))


def _map(store, run_id):
    return store.read_data_map(run_id)


def test_after_stop_and_resume_the_map_holds_exactly_the_completed_epochs(store, synthetic):
    straight_id, _ = trainer.new_run(store, cfg(epochs=4))
    straight = _map(store, straight_id)
    assert straight.epochs == 4 and straight.confidence.shape[1] == len(synthetic.train) - 26  # 10% held out

    stop = threading.Event()
    run_id = store.create(cfg(epochs=4))
    result = trainer.run(store, run_id, callbacks=[StopAt(stop, epoch=3, batch=2)], stop_event=stop)
    assert result.status == "stopped" and _map(store, run_id).epochs == 2  # not the half-done epoch 3
    # a kill -9 after the map of epoch 3 was written but before its checkpoint: one column too many
    stopped = _map(store, run_id)
    extra = files.DataMap(stopped.index, stopped.labels, np.vstack([stopped.confidence, stopped.confidence[:1]]),
                          np.vstack([stopped.correct, stopped.correct[:1]]))
    store.write_data_map(run_id, extra)

    store.begin_resume(run_id, queued=False)
    assert trainer.run(store, run_id, resume=True).status == "completed"
    resumed = _map(store, run_id)
    assert resumed.epochs == store.read_status(run_id).epochs_done == 4
    assert np.array_equal(resumed.confidence, straight.confidence)  # resume is exact: the same map
    assert np.array_equal(resumed.correct, straight.correct)


def test_recording_off_writes_no_map(store, synthetic):
    run_id, _ = trainer.new_run(store, cfg(epochs=1, record_data_map=False))
    with pytest.raises(RunError, match="recording off"):
        store.read_data_map(run_id)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "mismatched"])
def test_a_damaged_map_is_a_clear_error_not_a_crash(store, synthetic, damage):
    run_id, _ = trainer.new_run(store, cfg(epochs=2))
    path = store.file(run_id, files.DATA_MAP)
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a data map")
    else:
        good = store.read_data_map(run_id)
        store.write_data_map(run_id, files.DataMap(good.index[:-1], good.labels[:-1], good.confidence, good.correct))
    with pytest.raises(RunError, match="data map of run .* cannot be used"):
        store.read_data_map(run_id)
