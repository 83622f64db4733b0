"""Models declare themselves: name, description and options, read by the config, the
trainer and the command line, so that adding a model is its file plus a registry line."""

from __future__ import annotations

from dataclasses import fields

import pytest

import core.models
from core.cli import main
from core.config import TrainConfig
from core.errors import DataError
from core.models import MODEL_DESCRIPTIONS, MODELS, VAE, ModelOption, model_class, model_options
from core.synthetic import make_synthetic
from core.trainer import Trainer

SMALL = dict(hidden=8, layers=1, batch_size=32)


@pytest.fixture(scope="module")
def table():
    return make_synthetic(n_rows=200, seed=0)


def test_every_model_is_registered_under_its_own_name_with_a_description():
    assert list(MODELS) == ["vae", "iwae", "dreg", "hivae"]
    for name, cls in MODELS.items():
        assert name == cls.NAME and model_class(name.upper()) is cls
        assert MODEL_DESCRIPTIONS[name] == cls.DESCRIPTION and cls.DESCRIPTION.strip()


def test_every_declared_option_is_a_whole_number_config_field_with_a_valid_default():
    config_fields = {f.name: f for f in fields(TrainConfig)}
    assert model_options(), "no model declares an option"
    for option, models in model_options().values():
        assert option.name in config_fields, f"{option.name} (of {models}) is not a TrainConfig field"
        default = getattr(TrainConfig(), option.name)
        assert isinstance(default, int) and option.problem(default) is None


def test_the_options_and_the_models_that_read_them():
    options = {name: models for name, (_, models) in model_options().items()}
    assert options == {
        "importance_samples": ["iwae", "dreg"],
        "mixture_components": ["hivae"],
        "y_per_column": ["hivae"],
    }


@pytest.mark.parametrize(
    "model, settings, check",
    [
        ("iwae", {"importance_samples": 3}, lambda m: m.importance_samples == 3),
        ("dreg", {"importance_samples": 2}, lambda m: m.importance_samples == 2),
        ("hivae", {"mixture_components": 3}, lambda m: m.mixture == 3 and m.to_mixture_logits.out_features == 3),
        ("hivae", {"y_per_column": 2}, lambda m: m.to_y.out_features == 2 * m.n_features),
    ],
)
def test_a_config_field_reaches_the_model_that_declares_it(table, model, settings, check):
    trainer = Trainer(*table, TrainConfig(model=model, **settings, **SMALL))
    assert check(trainer.model)
    trainer.step()


def test_options_of_other_models_are_not_passed_to_a_model(table):
    trainer = Trainer(*table, TrainConfig(model="vae", importance_samples=7, mixture_components=2, **SMALL))
    assert type(trainer.model) is VAE and not hasattr(trainer.model, "importance_samples")
    assert TrainConfig(model="vae").model_keywords() == {}
    assert TrainConfig(model="hivae", y_per_column=4).model_keywords() == {"mixture_components": 10, "y_per_column": 4}


@pytest.mark.parametrize(
    "field, message",
    [("importance_samples", "importance samples must be at least 1"), ("mixture_components", "mixture components")],
)
def test_a_bad_option_is_one_clear_error_whatever_the_model(field, message):
    for model in MODELS:
        with pytest.raises(DataError, match=message):
            TrainConfig(model=model, **{field: 0}).validate()


def test_option_problems_follow_the_declared_minimum():
    option = ModelOption("importance_samples", "help", minimum=2)
    assert option.problem(2) is None and option.problem(5) is None
    assert option.problem(1) == "importance samples must be at least 2"
    assert option.problem(2.5) is not None and option.problem(True) is not None


@pytest.mark.parametrize("flag", ["--importance-samples", "--mixture-components", "--y-per-column"])
def test_every_option_has_a_command_line_flag_for_train_and_compare(flag, tmp_path, capsys):
    for command in ("train", "compare"):
        assert main([command, "--help"]) == 0
        assert flag in capsys.readouterr().out
    code = main(["train", "--data", "x.csv", "--out", str(tmp_path), flag, "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and flag in err and "at least 1" in err


def test_a_new_model_needs_only_its_class_and_a_registry_entry(table, monkeypatch, capsys):
    class Toy(VAE):
        NAME = "toy"
        DESCRIPTION = "a VAE under another name"

    assert main(["train", "--model", "toy", "--help"]) == 2  # not a choice yet
    monkeypatch.setitem(core.models.MODELS, "toy", Toy)
    capsys.readouterr()
    assert main(["train", "--model", "toy", "--help"]) == 0  # --model accepted it, then --help ended
    assert "toy: a VAE under another name" in " ".join(capsys.readouterr().out.split())
    trainer = Trainer(*table, TrainConfig(model="toy", **SMALL))
    assert type(trainer.model) is Toy
    trainer.step()
