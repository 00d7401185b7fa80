"""Presets reproduce the tutorials exactly; the lab's comparison pairs differ only where they should."""
import pandas as pd
import pytest

from core import presets
from core.config import RunConfig
from core.tables import runs_table
from ui import state


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_every_preset_is_a_valid_config(name):
    presets.PRESETS[name].config.validate()


def test_tutorial_presets_match_the_tutorials_setups():
    c = presets.get("lenet5_c3_mnist").config
    assert (c.arch, c.optimizer, c.lr, c.momentum, c.batch_size, c.epochs) == ("lenet5_c3", "sgd", 0.01, 0.9, 32, 10)
    assert presets.get("lenet5_c3_mnist_aug").config.diff(c).keys() == {"name", "aug_rotate", "aug_translate"}
    c = presets.get("lenet5_mnist").config
    assert (c.optimizer, c.lr, c.momentum, c.batch_size, c.epochs) == ("sgd", 0.01, 0.5, 64, 5)
    c = presets.get("lenet5_cifar10").config
    assert (c.dataset, c.lr, c.momentum, c.batch_size, c.epochs) == ("cifar10", 0.001, 0.9, 4, 2)
    c = presets.get("resnet18_cifar_mnist").config
    assert (c.arch, c.weight_decay, c.batch_size) == ("resnet18_cifar", 5e-4, 128)
    c = presets.get("seed_cnn7_mnist_sgd").config
    assert c.lr * c.gamma ** len(c.milestones) == pytest.approx(0.01 * c.lr)  # ends at 0.01x the initial LR


def test_comparison_pairs_change_only_the_question_they_ask():
    sgd, adam = presets.PAIRS["compare_optimizers"].configs
    assert set(sgd.diff(adam)) == {"name", "optimizer", "lr"}
    plain, aug = presets.PAIRS["compare_augmentation"].configs
    assert set(plain.diff(aug)) == {"name", "aug_rotate", "aug_translate"}
    moved = presets.pair_configs(presets.PAIRS["compare_optimizers"], "mnist_sample")
    assert all(c.dataset == "mnist_sample" for c in moved)


def test_runs_started_from_a_preset_show_the_tutorials_number(store):
    run_id = store.create(presets.get("lenet5_mnist").config, preset="lenet5_mnist")
    other = store.create(RunConfig())
    table = runs_table(store.list()).set_index("run_id")
    assert table.loc[run_id, "reported"] == "≈ 98% test"
    assert pd.isna(table.loc[other, "reported"])


def test_home_pair_button_queues_both_runs_and_opens_the_comparison(app):
    app.run()
    app.button(key="home_pair_compare_optimizers").click().run()
    assert not app.exception
    runs = {r.run_id: r for r in state.store().list()}
    assert len(runs) == 2
    assert sorted(app.session_state[state.COMPARE_RUNS]) == sorted(runs)
    assert {r.config.optimizer for r in runs.values()} == {"sgd", "adam"}
    assert {r.config.dataset for r in runs.values()} == {"mnist_sample"}  # full MNIST is absent here
    state.runner().stop()


def test_tutorial_presets_without_their_dataset_are_shown_disabled_with_the_reason(app):
    app.run()
    button = app.button(key="home_lenet5_c3_mnist")
    assert button.disabled
    assert any("needs mnist" in c.value for c in app.caption)
