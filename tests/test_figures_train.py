"""The live training figure, without Streamlit."""
from ui.train_figures import live_figure, lr_preview_figure


def test_live_figure_before_the_first_batch_shows_panel_titles_but_no_axes():
    fig = live_figure([], [], 0)
    assert [a.text for a in fig.layout.annotations] == ["Loss", "Accuracy", "Learning rate"]
    assert fig.data == ()
    assert all(fig.layout[f"{axis}{i}"].visible is False for axis in ("xaxis", "yaxis") for i in ("", 2, 3))


def test_live_figure_draws_batches_epochs_and_the_best_epoch():
    steps = [(1, 0.5, 2.0, 2.0, 0.1), (2, 1.0, 1.0, 1.5, 0.05)]
    rows = [{"epoch": 1, "train_loss": 1.5, "val_loss": 1.2, "train_acc": 0.6, "val_acc": 0.7}]
    fig = live_figure(steps, rows, best_epoch=1)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["running loss"].y) == [2.0, 1.5]
    assert list(by_name["lr"].y) == [0.1, 0.05]
    assert list(by_name["val acc"].y) == [0.7]
    assert list(by_name["best"].text) == ["best 70.0%"]
    assert fig.layout.xaxis.visible is not False
    assert list(fig.layout.yaxis3.range) == [0, 0.1 * 1.1]


def test_live_lr_of_a_stepwise_schedule_is_drawn_as_steps():
    steps = [(1, 0.5, 2.0, 2.0, 0.1), (2, 1.0, 1.0, 1.5, 0.1), (3, 1.5, 1.0, 1.5, 0.01)]
    assert {t.name: t for t in live_figure(steps, [], lr_steps=True).data}["lr"].line.shape == "vh"
    assert {t.name: t for t in live_figure(steps, []).data}["lr"].line.shape == "linear"


def test_lr_preview_draws_steps_a_log_axis_and_plateaus_bounds():
    lrs = [0.1] * 4 + [0.01] * 4
    fig = lr_preview_figure(lrs, 4, steps=True)
    assert fig.data[0].line.shape == "hv" and list(fig.data[0].x)[4] == 1.0
    assert fig.layout.yaxis.type != "log" and list(fig.layout.yaxis.range) == [0, 0.1 * 1.1]
    assert lr_preview_figure(lrs, 4, log=True).layout.yaxis.type == "log"
    assert lr_preview_figure(lrs, 4).data[0].line.shape == "linear"
    plateau = lr_preview_figure([0.1] * 8, 4, steps=True, stalled=lrs)
    assert [t.name for t in plateau.data] == ["while val loss improves", "if val loss never improves"]
    assert plateau.data[1].line.shape == "hv" and plateau.data[1].line.dash == "dash"
    assert "depends on the validation loss" in plateau.layout.annotations[0].text
