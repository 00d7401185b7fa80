"""Every RunConfig field, walked one by one: its metadata is the one truth for the Train form,
the CLI and validate() (issue #11), and every way a value enters is checked."""
import json
import math
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

from core import presets
from core.cli import build_parser, main
from core.config import (
    MAX_EPOCHS, MAX_SEED, OPTIMIZERS, OWN_WARMUP_SCHEDULES, SCHEDULE_EXPLANATIONS, SCHEDULE_TITLES, SCHEDULES, ConfigError, RunConfig,
    best_basis_note, clean_run_name, field_applies, field_info, field_problem, name_problems, range_text,
    schedule_explanation,
)
from ui import config_form

ROOT = Path(__file__).resolve().parents[1]
FIELDS = [f.name for f in fields(RunConfig)]
NUMBERS = [n for n in FIELDS if field_info(n)["type"] in ("int", "float")]
FLOATS = [n for n in NUMBERS if field_info(n)["type"] == "float"]


def problems(cfg: RunConfig) -> list[str]:
    try:
        cfg.validate()
    except ConfigError as exc:
        return exc.problems
    return []


def names_the_field(name: str, message: str) -> bool:
    return name in message or field_info(name)["label"].lower() in message.lower()


def at(name: str, value) -> RunConfig:
    """A config that is valid except perhaps for `name` (epochs at the maximum, so that the
    warm-up and milestone bounds are not cut short by the run's length)."""
    base = {"epochs": MAX_EPOCHS}
    if name == "milestones":
        return RunConfig(**base, schedule="multistep", milestones=(value,))
    return RunConfig(**{**base, name: value})


# ---- the metadata ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", FIELDS)
def test_every_field_has_a_label_help_and_a_place_in_the_form(name):
    info = field_info(name)
    assert info["label"].strip() and info["help"].strip()
    assert any(info["group"] in groups for _, groups in config_form.COLUMNS)
    assert any(field_applies(name, o, s) for o in OPTIMIZERS for s in SCHEDULES), "never shown"


@pytest.mark.parametrize("name", NUMBERS + ["milestones"])
def test_every_number_has_bounds_of_its_own_type(name):
    info = field_info(name)
    kind = int if info["type"] in ("int", "tuple") else float
    assert type(info["min"]) is kind and type(info["max"]) is kind  # number_input refuses mixed types
    assert info["min"] < info["max"]
    assert range_text(name)


def test_conditions_say_which_optimizer_and_schedule_use_a_field():
    assert [o for o in OPTIMIZERS if field_applies("momentum", o, "none")] == ["sgd", "rmsprop"]
    assert [o for o in OPTIMIZERS if field_applies("nesterov", o, "none")] == ["sgd"]
    assert [s for s in SCHEDULES if field_applies("gamma", "sgd", s)] == ["step", "multistep", "exponential", "plateau"]
    assert [s for s in SCHEDULES if field_applies("warmup_epochs", "sgd", s)] == [
        s for s in SCHEDULES if s not in ("onecycle", "triangle")]
    assert all(field_applies("lr", o, s) for o in OPTIMIZERS for s in SCHEDULES)


# ---- validate() from the metadata ---------------------------------------------------------------

def _just_outside(value, direction):
    return value + direction if isinstance(value, int) else math.nextafter(value, direction * math.inf)


@pytest.mark.parametrize("name", NUMBERS + ["milestones"])
def test_validate_accepts_the_bounds_and_rejects_just_outside_them(name):
    info = field_info(name)
    lo, hi = info["min"], info["max"]
    assert problems(at(name, hi)) == []
    assert problems(at(name, _just_outside(hi, +1)))
    if info.get("min_exclusive"):
        assert problems(at(name, _just_outside(lo, +1))) == []
        low_bad = lo
    else:
        assert problems(at(name, lo)) == []
        low_bad = _just_outside(lo, -1)
    found = problems(at(name, low_bad))
    assert len(found) == 1 and names_the_field(name, found[0]), found


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name", FLOATS)
def test_every_float_must_be_finite(name, value):
    found = problems(at(name, value))
    assert found and names_the_field(name, found[0]) and "finite" in found[0], found


@pytest.mark.parametrize("name", NUMBERS)
def test_numbers_of_the_wrong_type_or_far_too_large_are_problems_not_crashes(name):
    for bad in ("5", None, True, 10**400):
        found = problems(at(name, bad))
        assert found and names_the_field(name, found[0]), (bad, found)


def test_weight_decay_nan_from_json_is_refused_before_training():
    # it used to start and fail as "loss became NaN ... try a smaller learning rate"
    with pytest.raises(ConfigError, match="weight decay must be a finite number, got nan"):
        RunConfig.from_dict({"weight_decay": "nan"}).validate()


def test_the_largest_seed_works_in_torch_numpy_and_the_hold_out_and_one_more_is_refused():
    from core import data

    torch.manual_seed(MAX_SEED)
    torch.Generator().manual_seed(MAX_SEED)
    np.random.seed(MAX_SEED)
    split = data.Split(torch.zeros(10, 1, 2, 2, dtype=torch.uint8), torch.arange(10) % 2)
    data.holdout(split, 0.2, MAX_SEED)
    with pytest.raises(ValueError):
        np.random.seed(MAX_SEED + 1)
    assert "seed must be between 0 and 4294967295, got 4294967296" in problems(RunConfig(seed=MAX_SEED + 1))
    assert problems(RunConfig(seed=10**30))  # torch.manual_seed raised OverflowError mid-run


def test_huge_numbers_in_json_are_config_errors():
    for data in ({"lr": 10**400}, {"seed": 1e400}, {"milestones": [1e400]}):
        with pytest.raises(ConfigError):
            RunConfig.from_dict(data).validate()


def test_milestones_are_bounded_even_when_multistep_is_not_chosen():
    assert "milestones must be epochs between 1 and 1000" in problems(RunConfig(milestones=(10**30,)))[0]


@pytest.mark.parametrize("layers, message", [
    ((1, 2), "custom layer 1 must be an object"),
    (({"type": "conv", "out_channels": object()},), "custom layer 1: out_channels must be a number or text"),
    (({"type": "conv", "out_channels": math.nan},), "custom layer 1: out_channels must be a number or text"),
])
def test_custom_layers_that_could_not_even_be_saved_are_config_errors(layers, message):
    assert message in problems(RunConfig(arch="custom", custom_layers=layers))[0]


def test_whole_numbers_given_to_float_fields_become_floats():
    # the form's number_input refuses an int value with float bounds
    cfg = RunConfig(aug_rotate=10, lr=1, milestones=[3, 4])
    assert type(cfg.aug_rotate) is float and type(cfg.lr) is float and cfg.milestones == (3, 4)


def test_cross_field_rules_still_hold():
    assert "MultiStepLR milestones must be increasing epochs within 1..5" in problems(
        RunConfig(epochs=5, schedule="multistep", milestones=(3, 6)))[0]
    assert "below the learning rate" in problems(RunConfig(schedule="cosine", lr=0.01, min_lr=0.01))[0]
    assert "Nesterov momentum needs optimizer sgd" in problems(RunConfig(nesterov=True, momentum=0.0))[0]
    assert "shorter than the run" in problems(RunConfig(epochs=2, warmup_epochs=2.0))[0]
    assert "OneCycle has its own warm-up" in problems(RunConfig(schedule="onecycle", warmup_epochs=1.0))[0]
    # a bad field does not hide the problems of the others, nor crash a rule that reads it
    found = problems(RunConfig(lr=math.nan, epochs=3, schedule="multistep", milestones=(4, 2)))
    assert len(found) == 2 and "MultiStepLR milestones" in found[1]


# ---- run names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    "a/b", "a\\b", "..", ".", "../etc", "x" * 81, "red\x1b[31m", "bell\x07", "two\nlines", "tab\there",
    "evil\u202etxt.exe", "zero\u200bwidth", "line\u2028sep",
])
def test_run_names_that_are_refused(bad):
    assert name_problems(bad)
    with pytest.raises(ConfigError):
        clean_run_name(bad)
    assert problems(RunConfig(name=bad))  # so the form, --name, --config and presets refuse it too


def test_run_names_are_folded_and_empty_means_the_id_only_in_a_config():
    assert clean_run_name("  Adam   vs SGD  ✓ ") == "Adam vs SGD ✓"
    assert clean_run_name("x" * 80) == "x" * 80
    assert clean_run_name("résumé · 2") == "résumé · 2"
    assert name_problems("") == [] and problems(RunConfig(name="")) == []
    with pytest.raises(ConfigError, match="cannot be empty"):
        clean_run_name("   ")


def test_name_messages_keep_the_words_the_runs_page_shows():
    assert "cannot contain '/'" in name_problems("a/b")[0]


# ---- validation share and "best" -----------------------------------------------------------------

def test_new_runs_hold_out_a_tenth_for_validation_and_say_where_best_comes_from():
    assert RunConfig().val_split == 0.1 and not RunConfig().best_on_test
    assert RunConfig(val_split=0.0).best_on_test
    assert "test set" in best_basis_note(RunConfig(val_split=0.0))
    assert "10% validation share" in best_basis_note(RunConfig())
    assert "best epoch" in field_info("val_split")["help"] and "test set" in field_info("val_split")["help"]


def test_presets_and_pairs_keep_their_published_setup_instead_of_the_default_hold_out():
    configs = [p.config for p in presets.PRESETS.values()]
    configs += [c for pair in presets.PAIRS.values() for c in presets.pair_configs(pair, "mnist_sample")]
    assert configs and all(c.val_split == 0.0 for c in configs)


# ---- the Train form -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", NUMBERS)
def test_form_widgets_take_label_and_bounds_from_the_metadata(name):
    kind, kwargs = config_form.widget_spec(name)
    info = field_info(name)
    assert kind == "number_input"
    assert (kwargs["min_value"], kwargs["max_value"]) == (info["min"], info["max"])
    assert kwargs["label"].startswith(info["label"]) and kwargs["help"] == info["help"]
    assert kwargs["step"] == info.get("step", 1 if info["type"] == "int" else kwargs["step"])


def test_the_train_page_draws_the_widgets_the_metadata_describes(app):
    from ui import state

    app.switch_page(state.TRAIN).run()
    for schedule in ("step", "multistep", "cosine", "plateau", "onecycle"):
        app.selectbox(key="cfg_schedule").set_value(schedule).run()
        assert not app.exception
        drawn = {w.key[len(config_form.PREFIX):]: w for w in app.number_input}
        shown = {n for n in NUMBERS if field_applies(n, "sgd", schedule)}
        assert set(drawn) == shown
        for name, widget in drawn.items():
            info = field_info(name)
            assert (widget.proto.min, widget.proto.max) == (info["min"], info["max"]), name
            assert widget.label.startswith(info["label"])
        texts = {w.key for w in app.text_input}
        assert ("cfg_milestones" in texts) == (schedule == "multistep")


def test_a_wrong_value_stays_in_the_form_after_switching_to_a_schedule_that_does_not_use_it(app):
    from ui import state

    app.switch_page(state.TRAIN).run()
    app.selectbox(key="cfg_schedule").set_value("step").run()
    app.number_input(key="cfg_gamma").set_value(0.0).run()  # gamma must be > 0
    app.selectbox(key="cfg_schedule").set_value("cosine").run()
    assert any("gamma must be > 0" in e.value for e in app.error)
    assert "cfg_gamma" in [w.key for w in app.number_input], "the problem can be fixed where it is named"
    app.number_input(key="cfg_gamma").set_value(0.5).run()
    assert not app.error and "cfg_gamma" not in [w.key for w in app.number_input]


# ---- the CLI ------------------------------------------------------------------------------------

def _train_parser():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["train"]


def test_the_cli_has_a_flag_with_the_range_for_every_field():
    actions = {a.dest: a for a in _train_parser()._actions}
    for name in FIELDS:
        if field_info(name).get("cli") is False:
            assert name not in actions
            continue
        assert name in actions, f"no flag for {name}"
        if range_text(name):
            assert range_text(name) in actions[name].help
    _train_parser().format_help()  # a '%' in a help text would break this


@pytest.mark.parametrize("argv, message", [
    (["--weight-decay", "nan"], "weight decay must be a finite number, got nan"),
    (["--lr", "inf"], "learning rate (lr) must be a finite number, got inf"),
    (["--seed", str(10**30)], "seed must be between 0 and 4294967295"),
    (["--name", "a/b"], "a run name cannot contain '/'"),
    (["--preset", "fast_mnist", "--momentum", "1"], "momentum must be between 0 and 0.999, got 1"),
])
def test_bad_flags_are_refused_with_a_message(argv, message, capsys, tmp_path):
    assert main(["--checkpoints", str(tmp_path), "train", *argv]) == 2
    err = capsys.readouterr().err
    assert "Invalid configuration:" in err and message in err
    assert not any(tmp_path.iterdir()), "no run was created"


CONFIG_FILES = {
    "list": "[]", "null": "null", "text": '"text"', "number": "42", "truncated": '{"epochs": 3',
    "inf seed": '{"seed": 1e400}', "nan lr": '{"lr": NaN}', "long number": '{"seed": 1' + "0" * 5000 + "}",
    "deep": "[" * 100000, "not utf-8": b"\xff\xfe{", "control name": '{"name": "a\\u001b[2J"}',
    "bad layer": '{"arch": "custom", "custom_layers": [{"type": "conv", "out_channels": "x"}]}',
}


@pytest.mark.parametrize("case", list(CONFIG_FILES))
def test_bad_config_files_are_invalid_configurations_not_tracebacks(case, capsys, tmp_path):
    path = tmp_path / "config.json"
    content = CONFIG_FILES[case]
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["--checkpoints", str(tmp_path / "ck"), "train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Invalid configuration:\n  - ") and "Traceback" not in err
    assert not (tmp_path / "ck").exists() or not any((tmp_path / "ck").iterdir())


def test_a_bad_custom_stack_is_refused_before_a_run_is_created(capsys, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(CONFIG_FILES["bad layer"])
    assert main(["--checkpoints", str(tmp_path / "ck"), "train", "--config", str(path)]) == 2
    assert "layer 1 (conv): out_channels must be a whole number, got 'x'" in capsys.readouterr().err


def test_a_config_file_that_is_a_list_fails_cleanly_in_a_fresh_process(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("[]")
    proc = subprocess.run([sys.executable, "-m", "core", "--checkpoints", str(tmp_path / "ck"), "train",
                           "--config", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "Invalid configuration:" in proc.stderr and "must hold a JSON object" in proc.stderr


def test_json_text_from_anywhere_goes_through_the_same_checks():
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        RunConfig.from_json(json.dumps([1, 2]))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_schedule_explains_itself_in_one_line_with_its_own_numbers(schedule):
    cfg = RunConfig(schedule=schedule, lr=0.05, gamma=0.3, milestones=(2, 4), step_size=3, patience=4, min_lr=0.001)
    line = schedule_explanation(cfg)
    assert line.startswith(f"{SCHEDULE_TITLES[schedule]}: ") and "\n" not in line and len(line) < 260
    assert line.split(": ", 1)[1] == SCHEDULE_EXPLANATIONS[schedule].format(**{**cfg.to_dict(), "milestones": "2, 4"})
    assert set(SCHEDULE_EXPLANATIONS) == set(SCHEDULES)  # a new schedule without its line fails here
    numbers = {"none": "0.05", "step": "3 epoch", "multistep": "2, 4", "exponential": "0.3", "cosine": "0.001",
               "onecycle": "0.05", "triangle": "0.05×0.07", "plateau": "4 epoch"}
    assert numbers[schedule] in line
    if schedule not in OWN_WARMUP_SCHEDULES:
        assert "warms up linearly from near 0 over 1.5 epoch(s)" in schedule_explanation(
            cfg.replace(warmup_epochs=1.5))
