"""Training as users run it: `knbc train` on KNBC or on their files, `spacy train` on our config, loading."""

import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

import pipeline
from pipeline.cli import app
from pipeline.corpus.export import records_to_docs
from pipeline.errors import ModelError
from pipeline.loading import check_model_dir

CONFIGS = Path(__file__).resolve().parents[1] / "models" / "configs"
TINY_MODEL = [
    "--components.theme.model.hidden_size=8",
    "--components.theme.model.trainable_dim=8",
    "--components.theme.model.n_buckets=100",
]
runner = CliRunner()


def tiny_config(tmp_path, task="theme"):
    """The shipped config with a tiny network (config overrides written into a copy)."""
    config = spacy.util.load_config(CONFIGS / f"{task}.cfg")
    config["components"][task]["model"].update({"hidden_size": 8, "trainable_dim": 8, "n_buckets": 100})
    path = tmp_path / f"{task}.cfg"
    config.to_disk(path)
    return path


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [
    {"text": "この店のラーメンは最高だ。", "label": "good"},
    {"text": "店員の態度が悪かった。", "label": "bad"},
    {"text": "とてもおいしかった。", "label": "good"},
    {"text": "二度と行かない。", "label": "bad"},
]


def test_knbc_train_on_user_jsonl(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", ROWS * 3)
    dev = write_jsonl(tmp_path / "dev.jsonl", ROWS)
    out = tmp_path / "model"
    args = ["train", str(tiny_config(tmp_path)), "--out", str(out), "--train", str(train), "--dev", str(dev),
            "--test", str(dev), "--max-epochs", "2", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["labels"] == ["bad", "good"] and metrics["data"]["n_train"] == 12
    assert len(metrics["history"]) == 2 and "theme_macro_f" in metrics["test"]
    nlp = pipeline.load(out)
    assert set(nlp("おいしい").cats) == {"bad", "good"}
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 2


def test_knbc_train_names_bad_user_data(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text('{"text": "よい", "label": "good"}\n{"text": "悪い"\n', encoding="utf-8")
    dev = write_jsonl(tmp_path / "dev.jsonl", ROWS)
    result = runner.invoke(app, ["train", str(tiny_config(tmp_path)), "--out", str(tmp_path / "m"),
                                 "--train", str(train), "--dev", str(dev), "--quiet"])
    assert result.exit_code == 2
    assert "train.jsonl:2: not a JSON object" in result.output
    no_label = write_jsonl(tmp_path / "nolabel.jsonl", [{"text": "よい"}])
    result = runner.invoke(app, ["train", str(tiny_config(tmp_path)), "--out", str(tmp_path / "m"),
                                 "--train", str(no_label), "--dev", str(dev), "--quiet"])
    assert result.exit_code == 2 and "nolabel.jsonl:1: 'label' must be a non-empty string" in result.output
    result = runner.invoke(app, ["train", str(tiny_config(tmp_path)), "--out", str(tmp_path / "m"),
                                 "--train", str(dev), "--quiet"])
    assert result.exit_code == 2 and "--dev" in result.output


def test_knbc_train_csv(tmp_path):
    import pandas as pd

    pd.DataFrame(ROWS * 2).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(ROWS).to_csv(tmp_path / "dev.csv", index=False)
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", str(tiny_config(tmp_path)), "--out", str(out), "--train",
                                 str(tmp_path / "train.csv"), "--dev", str(tmp_path / "dev.csv"),
                                 "--max-epochs", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert spacy.load(out)("おいしい").cats


def test_spacy_train_runs_our_config(tmp_path, ginza, corpus):
    docs = records_to_docs(ginza, corpus.sentences[:40])
    DocBin(docs=docs[:30], store_user_data=True).to_disk(tmp_path / "train.spacy")
    DocBin(docs=docs[30:], store_user_data=True).to_disk(tmp_path / "dev.spacy")
    from spacy.cli.train import train

    overrides = {
        "paths.train": str(tmp_path / "train.spacy"),
        "paths.dev": str(tmp_path / "dev.spacy"),
        "training.max_steps": 4,
        "training.eval_frequency": 2,
        **{flag[2:].split("=")[0]: int(flag.split("=")[1]) for flag in TINY_MODEL},
    }
    train(CONFIGS / "theme.cfg", tmp_path / "out", overrides=overrides)
    nlp = spacy.load(tmp_path / "out" / "model-best")
    cats = nlp("京都の紅葉がきれいでした。").cats
    assert set(cats) == {"携帯電話", "京都観光", "スポーツ", "グルメ"}


def test_loading_says_what_is_wrong(tmp_path):
    with pytest.raises(ModelError, match="no such model folder"):
        pipeline.load(tmp_path / "nothing")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.cfg").write_text("")
    with pytest.raises(ModelError, match="incomplete model folder, meta.json is missing"):
        check_model_dir(tmp_path / "half")


def test_save_pipeline_requires_the_same_minor_version(tmp_path):
    import srsly

    from pipeline import __version__
    from pipeline.ginza import blank_japanese
    from pipeline.loading import save_pipeline

    nlp = blank_japanese()
    nlp.meta["requirements"] = ["knbc-pipeline>=0.0.1", "other>=1"]
    save_pipeline(nlp, tmp_path / "p")
    major, minor = __version__.split(".")[:2]
    requirements = srsly.read_json(tmp_path / "p" / "meta.json")["requirements"]
    assert requirements == ["other>=1", f"knbc-pipeline>={__version__},<{major}.{int(minor) + 1}"]


def test_knbc_train_refuses_data_of_one_label_and_leaves_no_folder(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [row for row in ROWS if row["label"] == "good"] * 3)
    dev = write_jsonl(tmp_path / "dev.jsonl", ROWS)
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", str(tiny_config(tmp_path)), "--out", str(out), "--train", str(train),
                                 "--dev", str(dev), "--max-epochs", "1", "--quiet"])
    assert result.exit_code == 2, result.output
    assert f"{train}: a classifier needs at least two labels to learn, the training data has 1: ['good']" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


def test_a_training_run_that_fails_leaves_no_folder_behind_but_keeps_an_existing_one(tmp_path, monkeypatch):
    import pipeline.training.train as train_module

    def broken(*args, **kwargs):
        raise RuntimeError("a bug half-way through training")

    monkeypatch.setattr(train_module, "train_component", broken)
    train, dev = write_jsonl(tmp_path / "train.jsonl", ROWS), write_jsonl(tmp_path / "dev.jsonl", ROWS)
    for out in (tmp_path / "new", tmp_path / "existing"):
        if out.name == "existing":
            out.mkdir()
            (out / "keep.txt").write_text("mine", encoding="utf-8")
        with pytest.raises(RuntimeError, match="half-way"):
            train_module.train_from_config(tiny_config(tmp_path), out, {"training.max_epochs": 1}, train=train, dev=dev,
                                           progress=False)
    assert not (tmp_path / "new").exists()
    assert [p.name for p in (tmp_path / "existing").iterdir()] == ["keep.txt"]


def test_assemble_takes_a_language_model_and_refuses_two_generators_of_one_task(tmp_path):
    models = Path(__file__).resolve().parents[1] / "models"
    result = runner.invoke(app, ["assemble", str(models / "theme"), str(models / "lm"), "--out", str(tmp_path / "lm")])
    assert result.exit_code == 0, result.output
    nlp = pipeline.load(tmp_path / "lm")
    assert nlp.pipe_names == ["knbc_vectors", "knbc_sentences", "theme", "generator_lm"] and isinstance(nlp("京都の")._.generated, str)
    twice = [str(models / "generator-keywords"), str(models / "generator-keywords")]
    result = runner.invoke(app, ["assemble", *twice, "--out", str(tmp_path / "twice")])
    assert result.exit_code == 2 and "'generator_keywords'" in result.output and "one generator per task" in result.output
    assert not (tmp_path / "twice").exists()


def test_keep_last_runs_every_epoch_and_keeps_the_last():
    from pipeline.training.loop import TrainSettings, run_epochs
    dev = iter([0.5, 0.4, 0.3, 0.2])  # getting worse: keep=best would stop after patience 1 and keep epoch 1
    state = {"epoch": 0}

    def train_epoch(epoch):
        state["epoch"] = epoch
        return 0.0

    kept = {}
    result = run_epochs("score", TrainSettings(max_epochs=4, patience=1, keep="last"), train_epoch,
                        evaluate=lambda: {"score": next(dev)}, snapshot=lambda: state["epoch"],
                        restore=lambda epoch: kept.update(epoch=epoch), progress=False)
    assert (result.best_epoch, len(result.history), kept["epoch"]) == (4, 4, 4)
