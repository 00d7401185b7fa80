"""AppTest: the Home and Train pages (form validation, presets, enqueueing, live panel)."""
import json

import pytest

from core.config import RunConfig
from tests.test_jobs import wait_for
from ui import state


def plotly_figures(at):
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def test_home_renders_on_a_fresh_store_with_presets_and_no_runs(app):
    app.run()
    assert not app.exception
    assert "CNN Studio" in app.title[0].value
    assert any("No runs yet" in i.value for i in app.info)
    assert app.button(key="home_lenet5_mnist_sample").disabled is False
    # a preset whose dataset is absent is shown disabled, not hidden
    assert app.button(key="home_lenet5_cifar10").disabled is True


def test_train_form_shows_every_problem_before_anything_starts(app):
    app.switch_page(state.TRAIN).run()
    assert not app.exception
    app.number_input(key="cfg_lr").set_value(0.0)
    app.number_input(key="cfg_epochs").set_value(3)
    app.selectbox(key="cfg_schedule").set_value("multistep").run()
    app.text_input(key="cfg_milestones").set_value("4,2").run()
    errors = " ".join(e.value for e in app.error)
    assert "learning rate (lr) must be > 0" in errors
    assert "MultiStepLR milestones must be increasing epochs within 1..3" in errors
    assert app.button(key="train_submit").disabled
    assert state.store().list() == []


def test_lr_preview_follows_the_schedule_fields(app):
    app.switch_page(state.TRAIN).run()
    app.number_input(key="cfg_val_split").set_value(0.0)  # all 4,000 images train (the default holds 10% out)
    app.number_input(key="cfg_epochs").set_value(4)
    app.number_input(key="cfg_lr").set_value(0.1)
    app.selectbox(key="cfg_schedule").set_value("multistep").run()
    app.text_input(key="cfg_milestones").set_value("2,3").run()
    fig = next(f for f in plotly_figures(app) if "Learning-rate" in f["layout"]["title"]["text"])
    ys = fig["data"][0]["y"]
    # 4,000 mnist_sample images at batch 64 → 63 steps per epoch
    assert len(ys) == 4 * 63
    assert ys[0] == pytest.approx(0.1) and ys[-1] == pytest.approx(0.001)


def test_lr_schedule_is_explained_tabled_per_epoch_and_can_go_log_scale(app):
    app.switch_page(state.TRAIN).run()
    app.number_input(key="cfg_epochs").set_value(4)
    app.number_input(key="cfg_lr").set_value(0.1)
    app.selectbox(key="cfg_schedule").set_value("step").run()
    app.number_input(key="cfg_step_size").set_value(2).run()
    assert not app.exception
    assert any(c.value.startswith("StepLR: the LR is multiplied by 0.1 after every 2 epoch(s)") for c in app.caption)
    table = next(df.value for df in app.dataframe if "epoch" in df.value.columns)
    assert table["epoch"].tolist() == [1, 2, 3, 4]
    assert table["LR"].tolist() == pytest.approx([0.1, 0.1, 0.01, 0.01])
    fig = next(f for f in plotly_figures(app) if "Learning-rate" in f["layout"]["title"]["text"])
    assert fig["data"][0]["line"]["shape"] == "hv" and fig["layout"]["yaxis"].get("type") != "log"
    app.toggle(key="train_lr_log").set_value(True).run()
    fig = next(f for f in plotly_figures(app) if "Learning-rate" in f["layout"]["title"]["text"])
    assert fig["layout"]["yaxis"]["type"] == "log"
    # ReduceLROnPlateau: what the preview can show, and that the validation loss decides the rest
    app.number_input(key="cfg_epochs").set_value(6)
    app.selectbox(key="cfg_schedule").set_value("plateau").run()
    assert any("depends on the validation loss" in c.value for c in app.caption)
    fig = next(f for f in plotly_figures(app) if "Learning-rate" in f["layout"]["title"]["text"])
    assert "depends on the validation loss" in fig["layout"]["annotations"][0]["text"]
    table = next(df.value for df in app.dataframe if "epoch" in df.value.columns)
    assert table["LR (val loss improving)"].tolist() == pytest.approx([0.1] * 6)
    # patience 2: epochs 2-4 do not beat epoch 1, so the fastest drop comes after epoch 4
    assert table["LR if val loss never improves"].tolist() == pytest.approx([0.1] * 4 + [0.01] * 2)


def test_train_enqueues_a_valid_config_and_the_live_panel_shows_it(app):
    app.switch_page(state.TRAIN).run()
    app.number_input(key="cfg_epochs").set_value(1)
    app.text_input(key="cfg_name").set_value("my first run").run()
    app.button(key="train_submit").click().run()
    assert not app.exception
    runs = state.store().list()
    assert len(runs) == 1 and runs[0].name == "my first run"
    assert any("started" in s.value for s in app.success)
    assert state.runner().wait_idle(120)
    app.run()
    assert state.store().read_status(runs[0].run_id).status == "completed"
    assert any("completed" in s.value for s in app.success)


def test_loading_a_preset_fills_the_form(app):
    app.switch_page(state.TRAIN).run()
    app.selectbox(key="train_preset").set_value("seed_cnn7_mnist_sample").run()
    app.button(key="train_preset_load").click().run()
    assert app.selectbox(key="cfg_arch").value == "seed_cnn7"
    assert app.selectbox(key="cfg_schedule").value == "multistep"
    assert app.text_input(key="cfg_milestones").value == "3,5"


def test_clone_prefill_from_another_page_lands_in_the_form(app):
    app.session_state[state.TRAIN_PREFILL] = {"arch": "one_conv", "optimizer": "adam", "lr": 0.003}
    app.switch_page(state.TRAIN).run()
    assert app.selectbox(key="cfg_arch").value == "one_conv"
    assert app.selectbox(key="cfg_optimizer").value == "adam"
    assert app.number_input(key="cfg_lr").value == pytest.approx(0.003)


def _long_cpu_run() -> str:
    """A synthetic run long enough to stay live for the whole test (stopped by the app fixture)."""
    from tests.test_engine import cfg

    run_id = state.runner().submit(cfg(epochs=500, device="cpu"))
    assert wait_for(lambda: state.snapshot()["live"])
    assert state.snapshot()["live"].run_id == run_id
    return run_id


def test_while_a_run_trains_the_train_page_is_its_live_panel_and_the_form_waits(app, synthetic):
    run_id = _long_cpu_run()
    app.switch_page(state.TRAIN).run()
    assert not app.exception
    assert any(run_id in m.value for m in app.markdown), "the live run heads the page"
    assert "cfg_lr" not in [w.key for w in app.number_input], "the form is not drawn while a run trains"
    # on the CPU the panel defaults to light refreshes, with a button for the curves as they are now
    assert app.get("button_group")[0].value == "light"
    assert wait_for(lambda: state.snapshot()["live"].steps)
    app.button(key="live_chart_now").click().run()
    chart = next(f for f in plotly_figures(app) if any(t.get("name") == "running loss" for t in f["data"]))
    assert len(next(t for t in chart["data"] if t["name"] == "running loss")["x"]) > 0
    app.toggle(key="train_next_run").set_value(True).run()
    assert app.number_input(key="cfg_lr").value == pytest.approx(RunConfig().lr)
    assert app.button(key="train_submit").proto.label == "Add to queue"
    app.button(key="train_submit").click().run()
    assert any("queued" in s.value for s in app.success)
    assert len(state.snapshot()["queue"]) == 1


def test_a_preset_sent_to_the_train_page_while_a_run_trains_opens_the_form(app, synthetic):
    _long_cpu_run()
    app.session_state[state.TRAIN_PREFILL] = {"arch": "one_conv", "optimizer": "adam", "lr": 0.003}
    app.switch_page(state.TRAIN).run()
    assert app.toggle(key="train_next_run").value is True
    assert app.selectbox(key="cfg_arch").value == "one_conv"


def test_animations_are_switched_off_only_while_a_run_trains_on_the_cpu(app, synthetic):
    """`app` is only here to stop the run if an assertion fails first."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    def still_css_shown() -> bool:
        # a fresh AppTest each time: only an AppTest's first run goes through the router
        at = AppTest.from_file(APP, default_timeout=60).run()
        assert not at.exception
        return any("animation: none" in el.proto.body for el in at.get("html"))

    assert not still_css_shown()
    _long_cpu_run()
    assert still_css_shown()
    state.runner().stop()
    assert state.runner().wait_idle(60)
    assert not still_css_shown()
