"""The live training figure, without Streamlit."""
from ui.train_figures import live_figure


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
