"""One source of truth for settings: config files hold them, the command line overrides them explicitly,
metrics.json records which did; and one macro-F1 for the training loop and the reports."""

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import spacy
from spacy.training import Example
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import UsageError
from pipeline.ginza import blank_japanese
from pipeline.training.data import labelled_texts_to_examples
from pipeline.training.generation_tasks import load_generator_config
from pipeline.training.loop import TrainSettings, classifier_scores, train_component
from pipeline.training.metrics import classification_scores
from pipeline.training.settings import parse_overrides, read_config
from pipeline.training.train import classifier_settings

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "models" / "configs"
runner = CliRunner()
ROWS = [
    {"text": "この店のラーメンは最高だ。", "label": "good"},
    {"text": "店員の態度が悪かった。", "label": "bad"},
    {"text": "とてもおいしかった。", "label": "good"},
    {"text": "二度と行かない。", "label": "bad"},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_config(tmp_path, **training):
    """theme.cfg with a tiny network and ``training`` written into the copy's [training]."""
    config = spacy.util.load_config(CONFIGS / "theme.cfg")
    config["components"]["theme"]["model"].update({"hidden_size": 8, "trainable_dim": 8, "n_buckets": 100})
    config["training"].update(training)
    path = tmp_path / "theme.cfg"
    config.to_disk(path)
    return path


def train(tmp_path, config, *args):
    data = write_jsonl(tmp_path / "data.jsonl", ROWS * 2)
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", str(config), "--out", str(out), "--train", str(data), "--dev", str(data),
                                 "--quiet", *args])
    return result, out


def test_the_configs_max_epochs_reaches_training(tmp_path):
    result, out = train(tmp_path, tiny_config(tmp_path, max_epochs=1))
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 1 and metrics["settings"]["max_epochs"] == 1
    assert metrics["settings_from"]["max_epochs"] == "config" and metrics["overrides"] == {}
    assert metrics["model"]["hidden_size"] == 8  # the network's settings are recorded too


def test_a_flag_and_a_set_override_the_config_and_metrics_json_says_which(tmp_path):
    config = tiny_config(tmp_path, max_epochs=1)
    result, out = train(tmp_path, config, "--max-epochs", "2", "--patience", "5",
                        "--set", "training.optimizer.learn_rate=0.01", "--set", "components.theme.model.hidden_size=4")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 2
    assert (metrics["settings"]["max_epochs"], metrics["settings"]["learn_rate"]) == (2, 0.01)
    assert metrics["config"] == str(config) and metrics["overrides"] == {
        "training.optimizer.learn_rate": 0.01, "components.theme.model.hidden_size": 4,
        "training.max_epochs": 2, "knbc.patience": 5}
    sources = metrics["settings_from"]
    assert sources["max_epochs"] == sources["patience"] == sources["learn_rate"] == "command line"
    assert sources["batch_size"] == sources["seed"] == "config"
    assert metrics["model"]["hidden_size"] == 4
    assert spacy.util.load_config(out / "config.cfg")["training"]["max_epochs"] == 2  # the saved config says so too


def test_set_values_are_typed_as_in_spacys_config_overrides():
    assert parse_overrides(["training.optimizer.L2=-0.5", "training.seed=3", "options.copy=false",
                            "generator.task=lm"]) == {
        "training.optimizer.L2": -0.5, "training.seed": 3, "options.copy": False, "generator.task": "lm"}
    assert isinstance(parse_overrides(["x.y=-0.5"])["x.y"], float)


def test_an_unknown_key_is_a_one_line_error_naming_it(tmp_path):
    result, out = train(tmp_path, tiny_config(tmp_path), "--set", "training.max_epoch=1")
    assert result.exit_code == 2 and "unknown setting 'training.max_epoch'" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()
    result = runner.invoke(app, ["train-generator", str(CONFIGS / "lm.cfg"), "--out", str(tmp_path / "g"),
                                 "--attention", "none"])
    assert result.exit_code == 2 and "unknown setting 'options.attention'" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "g").exists()
    result, _ = train(tmp_path, tiny_config(tmp_path), "--set", "training.optimizer.learn_rate=fast")
    assert result.exit_code == 2 and "training.optimizer.learn_rate: 'fast' is not a number" in result.output


@pytest.mark.parametrize("name", ["theme", "sentiment"])
def test_the_classifier_configs_hold_the_settings_that_made_the_shipped_models(name):
    recorded = json.loads((ROOT / "models" / name / "metrics.json").read_text(encoding="utf-8"))["settings"]
    assert_reproduces(asdict(classifier_settings(read_config(CONFIGS / f"{name}.cfg"), name)), recorded)


LATER_SETTINGS = {"keep": "best", "refit": False, "dev_in_train": False, "class_balance": 0.0, "choose_decoding": False}
LATER_GENERATOR_OPTIONS = {"embed_dim": 300, "lm_path": ""}  # Seq2Seq options added after some shipped models


def assert_reproduces(resolved: dict, recorded: dict) -> None:
    """``resolved`` holds the ``recorded`` settings, and the settings added after the model was trained
    at the values that reproduce it."""
    assert {key: resolved[key] for key in recorded} == recorded
    later = {key: value for key, value in resolved.items() if key not in recorded}
    assert later.items() <= LATER_SETTINGS.items()  # a model trained since records them all


@pytest.mark.parametrize(("name", "config_name"), [
    ("generator-keywords", "generator-keywords-pretrained"), ("generator-keywords-noattn", "generator-keywords-noattn"),
    ("generator-continuation", "generator-continuation"), ("lm", "lm")])
def test_the_generator_configs_hold_the_options_that_made_the_shipped_generators(name, config_name):
    folder = ROOT / "models" / name
    saved = json.loads((folder / "generator.json").read_text(encoding="utf-8"))
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    config = load_generator_config(CONFIGS / f"{config_name}.cfg")
    assert config.task == metrics["task"] == saved.get("task", "lm")
    options = asdict(config.options)
    later = {key: value for key, value in options.items() if key not in saved["options"]}
    assert later.items() <= LATER_GENERATOR_OPTIONS.items()
    assert {key: options[key] for key in saved["options"]} == saved["options"] == metrics["options"]
    assert metrics["settings"].pop("extra", {}) == {}  # a field of an earlier version, always empty
    assert_reproduces(asdict(config.settings), metrics["settings"])


def test_generator_overrides_are_applied_and_recorded():
    config = load_generator_config(CONFIGS / "generator-keywords.cfg",
                                   {"training.max_epochs": 1, "options.dropout": 0.5})
    assert (config.settings.max_epochs, config.options.dropout, config.options.hidden_size) == (1, 0.5, 128)
    assert config.recorded["settings_from"]["training.max_epochs"] == "command line"
    assert config.recorded["settings_from"]["options.hidden_size"] == "config"
    with pytest.raises(UsageError, match="needs attention"):
        load_generator_config(CONFIGS / "generator-keywords.cfg", {"options.attention": "none"})


def test_the_training_loop_and_the_reports_give_one_macro_f1_when_a_label_is_absent():
    labels = ["bad", "good", "mixed"]  # "mixed" occurs in neither the dev gold nor (here) the predictions
    nlp = blank_japanese()
    nlp.add_pipe("knbc_textcat", name="theme", config={"model": {
        "@architectures": "knbc.RNNClassifier.v1", "hidden_size": 8, "trainable_dim": 8, "n_buckets": 100}})
    pairs = [(row["text"], row["label"]) for row in ROWS]
    examples = labelled_texts_to_examples(nlp, pairs * 2 + [("まあまあだった。", "mixed")], labels)
    dev = labelled_texts_to_examples(nlp, pairs, labels)
    result = train_component(nlp, "theme", examples, dev, TrainSettings(max_epochs=1, batch_size=4), progress=False)
    docs = list(nlp.get_pipe("theme").pipe(eg.predicted.copy() for eg in dev))
    pred = [max(labels, key=doc.cats.get) for doc in docs]
    report = classification_scores([label for _, label in pairs], pred, labels)
    assert result.dev_scores["theme_macro_f"] == report["macro_f1"] == classifier_scores(nlp, "theme", dev)[
        "theme_macro_f"]
    if "mixed" not in pred:  # spaCy's scorer counts the absent label as F 0: the number the loop no longer uses
        spacy_scores = nlp.get_pipe("theme").score([Example(doc, eg.reference) for doc, eg in zip(docs, dev)])
        assert spacy_scores["theme_macro_f"] == pytest.approx(report["macro_f1"] * 2 / 3)
