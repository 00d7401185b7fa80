import json

import pytest

from core.config import ConfigError, RunConfig, field_info


def problems(**changes):
    with pytest.raises(ConfigError) as err:
        RunConfig(**changes).validate()
    return " | ".join(err.value.problems)


def test_defaults_are_valid_and_round_trip_through_json():
    cfg = RunConfig(schedule="multistep", milestones=(3, 4), epochs=5)
    assert cfg.validate() is cfg
    again = RunConfig.from_json(cfg.to_json())
    assert again == cfg
    assert json.loads(cfg.to_json())["milestones"] == [3, 4]


@pytest.mark.parametrize("changes, message", [
    ({"lr": -1}, "learning rate (lr) must be > 0 and ≤ 100, got -1"),
    ({"lr": 0}, "learning rate (lr) must be > 0"),
    ({"epochs": 0}, "epochs must be between 1 and"),
    ({"epochs": 10**6}, "epochs must be between 1 and"),
    ({"batch_size": 0}, "batch size must be between 1"),
    ({"batch_size": 10**7}, "batch size must be between 1"),
    ({"momentum": 1.5}, "momentum must be between 0 and 0.999, got 1.5"),
    ({"val_split": 0.9}, "validation share (val_split) must be between 0 and 0.5"),
    ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
    ({"arch": "vgg99"}, "unknown architecture 'vgg99'"),
    ({"dataset": "imagenet"}, "unknown dataset 'imagenet'"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
    ({"schedule": "multistep", "milestones": ()}, "MultiStepLR needs milestones"),
    ({"schedule": "multistep", "milestones": (4, 3), "epochs": 5},
     "MultiStepLR milestones must be increasing epochs within 1..5"),
    ({"schedule": "multistep", "milestones": (3, 9), "epochs": 5},
     "MultiStepLR milestones must be increasing epochs within 1..5"),
    ({"schedule": "onecycle", "warmup_epochs": 1.0}, "OneCycle has its own warm-up"),
    ({"warmup_epochs": 7.0, "epochs": 5}, "warm-up must be shorter than the run (5 epochs), got 7"),
    ({"label_smoothing": 1.0}, "label smoothing must be between 0 and 0.99, got 1"),
    ({"nesterov": True, "optimizer": "adam"}, "Nesterov momentum needs optimizer sgd"),
    ({"aug_erase": 2.0}, "random erasing (aug_erase) must be between 0 and 1, got 2"),
    ({"arch": "custom"}, "arch custom needs a layer stack"),
])
def test_bad_values_get_a_message_a_person_understands(changes, message):
    assert message in problems(**changes)


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as err:
        RunConfig(lr=-1, epochs=0, batch_size=0).validate()
    assert len(err.value.problems) == 3


def test_too_small_images_for_the_architecture_are_caught_before_training():
    assert "seed_cnn7 needs images of at least 16×16 pixels, got 8×8" in problems_with_shape(
        RunConfig(arch="seed_cnn7"), (1, 8, 8))


def problems_with_shape(cfg, shape):
    with pytest.raises(ConfigError) as err:
        cfg.validate(image_shape=shape)
    return str(err.value)


@pytest.mark.parametrize("data, message", [
    ({"learning_rate": 0.1}, "unknown config key(s): learning_rate"),
    ({"epochs": "many"}, "epochs: expected a whole number, got 'many'"),
    ({"epochs": 2.5}, "epochs: expected a whole number"),
    ({"lr": True}, "lr: expected a number"),
    ({"nesterov": "perhaps"}, "nesterov: expected true or false"),
    ({"milestones": "3,x"}, "milestones must be whole epochs"),
    ({"dataset": 5}, "dataset: expected text"),
])
def test_from_dict_rejects_unknown_keys_and_wrong_types(data, message):
    with pytest.raises(ConfigError) as err:
        RunConfig.from_dict(data)
    assert message in str(err.value)


def test_from_dict_coerces_cli_and_json_spellings():
    cfg = RunConfig.from_dict({"milestones": "3, 4", "epochs": "5", "lr": "0.1", "nesterov": "true"})
    assert cfg.milestones == (3, 4) and cfg.epochs == 5 and cfg.lr == 0.1 and cfg.nesterov is True


def test_invalid_json_text_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunConfig.from_json("{epochs: 3")


def test_diff_lists_only_changed_keys():
    a, b = RunConfig(), RunConfig(optimizer="adam", lr=0.001)
    assert a.diff(b) == {"optimizer": ("sgd", "adam"), "lr": (0.01, 0.001)}


def test_every_field_has_help_text():
    from dataclasses import fields
    for f in fields(RunConfig):
        assert field_info(f.name)["help"]
