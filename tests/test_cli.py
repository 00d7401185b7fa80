"""`python -m core`: the commands the README shows."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = json.dumps([{"type": "conv", "out_channels": 4, "kernel_size": 3}, {"type": "relu"},
                   {"type": "maxpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 4}])


def test_train_runs_and_resume_through_the_cli(tmp_path, synthetic, capsys):
    ck = str(tmp_path / "ck")
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"arch": "custom", "custom_layers": json.loads(TINY)}))
    code = main(["--checkpoints", ck, "train", "--dataset", "synthetic", "--config", str(cfg),
                 "--optimizer", "sgd", "--lr", "0.05", "--schedule", "multistep", "--milestones", "1,2",
                 "--epochs", "2", "--batch-size", "32"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "epoch   1" in out.out and "epoch   2" in out.out and "completed" in out.out
    assert main(["--checkpoints", ck, "runs"]) == 0
    table = capsys.readouterr().out
    assert "synthetic" in table and "completed" in table and "MultiStepLR" in table
    run_id = next(Path(ck).iterdir()).name
    assert main(["--checkpoints", ck, "resume", run_id]) == 2
    assert "already completed" in capsys.readouterr().err


def test_bad_flags_and_config_files_get_messages_not_tracebacks(tmp_path, capsys):
    assert main(["train", "--lr", "-1", "--epochs", "0"]) == 2
    err = capsys.readouterr().err
    assert "learning rate (lr) must be > 0 and ≤ 100, got -1" in err and "epochs must be between 1" in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"epochs": "many", "colour": "red"}')
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown config key(s): colour" in err and "epochs: expected a whole number" in err
    assert main(["train", "--preset", "nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert main(["resume", "no-such-run"]) == 2


def test_listing_commands(capsys):
    for cmd in ("presets", "datasets", "models", "runs"):
        assert main([cmd]) == 0
    out = capsys.readouterr().out
    assert "lenet5_mnist_sample" in out and "mnist_sample" in out and "seed_cnn7" in out


@pytest.mark.slow
def test_the_readme_command_trains_on_the_bundled_sample_in_a_fresh_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "core", "--checkpoints", str(tmp_path), "train", "--dataset", "mnist_sample",
         "--arch", "lenet5", "--optimizer", "sgd", "--lr", "0.01", "--momentum", "0.9", "--schedule",
         "multistep", "--milestones", "1,2", "--gamma", "0.1", "--epochs", "2", "--batch-size", "64",
         "--threads", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    run = next(tmp_path.iterdir())
    assert {"config.json", "metrics.csv", "status.json", "weights_best.safetensors",
            "predictions_best.safetensors"} <= {p.name for p in run.iterdir()}
    assert json.loads((run / "status.json").read_text())["status"] == "completed"


@pytest.mark.parametrize("name", ["fast_mnist", "fast_fashion_mnist", "fast_cifar10"])
def test_fast_presets_train_from_the_cli_and_metrics_show_when_the_bar_is_met(name, tmp_path, synthetic, capsys):
    """`train --preset fast_*` is the README's time-to-accuracy command; the cumulative
    epoch_seconds in metrics.csv is how a person reads when the target accuracy was reached."""
    from core.runs import RunStore

    ck = tmp_path / "ck"
    # the folder options after the command, as the README writes them
    assert main(["train", "--preset", name, "--dataset", "synthetic", "--epochs", "2", "--checkpoints", str(ck)]) == 0
    assert "completed" in capsys.readouterr().out
    store = RunStore(ck)
    rec = store.list()[0]
    assert rec.status.preset == name and rec.config.arch == "fast_cnn" and rec.config.schedule == "onecycle"
    rows = store.read_metrics(rec.run_id)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[-1]["elapsed_seconds"] == pytest.approx(sum(r["epoch_seconds"] for r in rows))
    assert main(["presets"]) == 0
    assert name in capsys.readouterr().out
