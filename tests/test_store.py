"""The run store: atomic writes, damaged folders, refusing unsafe names and files."""
import json
import os
import pickle

import pytest

from core import checkpoints
from core.config import RunConfig
from core.runs import RunError, atomic_write_text, check_run_id


def test_run_ids_are_readable_and_unique(store):
    a = store.create(RunConfig(dataset="mnist_sample", arch="lenet5"))
    b = store.create(RunConfig(dataset="mnist_sample", arch="lenet5"))
    assert a != b and "mnist_sample-lenet5" in a
    assert store.read_status(a).status == "queued"


@pytest.mark.parametrize("bad", ["../etc", "a/b", "..", "", ".hidden", "x" * 200, "a\\b"])
def test_run_ids_cannot_traverse_paths(store, bad):
    with pytest.raises(RunError):
        store.path(bad)


def test_atomic_write_keeps_the_old_file_when_the_replace_never_happens(tmp_path, monkeypatch):
    target = tmp_path / "status.json"
    atomic_write_text(target, "old")

    def crash(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temp file left behind


def test_damaged_folders_are_listed_with_a_reason_and_others_still_work(store):
    good = store.create(RunConfig())
    (store.root / "copied-by-hand").mkdir()
    bad_json = store.create(RunConfig())
    (store.path(bad_json) / "status.json").write_text("{not json")
    bad_cfg = store.create(RunConfig())
    (store.path(bad_cfg) / "config.json").write_text(json.dumps({"epochs": "lots"}))
    records = {r.run_id: r for r in store.list()}
    assert records[good].damaged == ""
    assert "status.json is missing" in records["copied-by-hand"].damaged
    assert records[bad_json].damaged.startswith("status.json is not valid JSON")
    assert "epochs" in records[bad_cfg].damaged
    assert records[bad_json].state == "damaged"


def test_truncated_weights_give_a_clear_error(store):
    run_id = store.create(RunConfig())
    (store.path(run_id) / "weights_best.safetensors").write_bytes(b"\x10\x00\x00")
    with pytest.raises(RunError, match="damaged"):
        checkpoints.load_weights(store, run_id, "best")
    with pytest.raises(RunError, match="missing"):
        checkpoints.load_weights(store, run_id, "last")


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['EVIL_MARK']}",))


def test_a_checkpoint_crafted_to_run_code_is_refused_and_never_executed(store, tmp_path, monkeypatch):
    mark = tmp_path / "pwned"
    monkeypatch.setenv("EVIL_MARK", str(mark))
    run_id = store.create(RunConfig())
    (store.path(run_id) / "checkpoint_last.pt").write_bytes(pickle.dumps({"epoch": _Evil()}))
    with pytest.raises(RunError, match="refused and not executed"):
        checkpoints.load_resume_state(store, run_id)
    assert not mark.exists()


def test_rename_sanitises_and_refuses_bad_names(store):
    run_id = store.create(RunConfig())
    store.rename(run_id, "  Adam   vs SGD  ✓ ")
    assert store.read_status(run_id).name == "Adam vs SGD ✓"
    for bad in ["a/b", "..", "x" * 81, "", "bad\x00name"]:
        with pytest.raises(RunError):
            store.rename(run_id, bad)
    assert store.path(run_id).exists()


def test_rename_and_delete_are_refused_while_the_run_trains(store):
    run_id = store.create(RunConfig())
    store.transition(run_id, "running")  # owned by this (alive) process
    with pytest.raises(RunError, match="stop it"):
        store.delete(run_id)
    with pytest.raises(RunError, match="stop it"):
        store.rename(run_id, "new")
    assert store.exists(run_id)


def test_runs_of_dead_processes_are_marked_interrupted(store):
    run_id = store.create(RunConfig())
    store.transition(run_id, "running")
    store.release(run_id)  # as when the process that owned it died
    assert store.mark_interrupted() == [run_id]
    assert store.read_status(run_id).status == "interrupted"
    store.delete(run_id)
    assert not store.exists(run_id)


def test_export_zip_contains_the_run_files(store):
    import io
    import zipfile
    run_id = store.create(RunConfig())
    names = zipfile.ZipFile(io.BytesIO(store.export_zip(run_id))).namelist()
    assert f"{run_id}/config.json" in names and f"{run_id}/status.json" in names


def test_check_run_id_accepts_generated_ids():
    assert check_run_id("20261125-101010-mnist_sample-lenet5-2")
