"""Issue 10, item 4: nothing lost, every bad input a one-line error, and a bug keeps its traceback."""

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import KnbcError, UsageError

runner = CliRunner()


# --- only our own errors are user errors -------------------------------------------------------

def test_evaluate_names_an_unknown_task_protocol_model_or_setting_in_one_line():
    for args, message in ((["--task", "colour"], "unknown task 'colour'"),
                          (["--protocol", "loo"], "unknown protocol 'loo'"),
                          (["--models", "majority,gpt"], "unknown model(s) ['gpt']"),
                          (["--runs", "0"], "--runs must be at least 1"),
                          (["--set", "training.colour=1"], "unknown setting 'training.colour'"),
                          (["--set", "variants.gpt.layers=2"], "unknown setting 'variants.gpt.layers'"),
                          (["--set", "training.learn_rate=fast"], "training.learn_rate: 'fast' is not a number"),
                          (["--set", "learn_rate=0.1"], "--set takes SECTION.KEY=VALUE")):
        result = runner.invoke(app, ["evaluate", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output


def test_a_bug_inside_evaluate_keeps_its_traceback(tmp_path, monkeypatch):
    import pipeline.evaluation

    def buggy(*args, **kwargs):
        raise ValueError("a bug, 30 minutes in")

    monkeypatch.setattr(pipeline.evaluation, "compare", buggy)
    result = runner.invoke(app, ["evaluate", "--out", str(tmp_path / "eval"), "--runs", "1"])
    assert result.exit_code != 2 and isinstance(result.exception, ValueError)


def test_a_bug_inside_benchmark_keeps_its_traceback(monkeypatch):
    import pipeline.evaluation.benchmark

    def buggy(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(pipeline.evaluation.benchmark, "benchmark", buggy)
    result = runner.invoke(app, ["benchmark"])
    assert result.exit_code != 2 and isinstance(result.exception, ValueError)


def test_benchmark_of_a_language_model_is_a_one_line_error():
    result = runner.invoke(app, ["benchmark", "--generator", "models/lm"])
    assert result.exit_code == 2 and "not language models" in result.output


def test_usage_errors_are_ours_and_still_value_errors():
    assert issubclass(UsageError, KnbcError) and issubclass(UsageError, ValueError)


# --- what the tokenizer cannot take ------------------------------------------------------------

@pytest.fixture(scope="module")
def nlp():
    import pipeline

    return pipeline.load()


def test_a_lone_surrogate_is_a_one_line_error_naming_it(nlp):
    from pipeline.errors import TextInputError

    for call in (nlp, nlp.tokenizer, lambda text: list(nlp.pipe([text]))):
        with pytest.raises(TextInputError, match=r"lone surrogate '\\ud800' at character 3") as caught:
            call("京都の\ud800紅葉")
        assert isinstance(caught.value, KnbcError) and "\n" not in str(caught.value)


def test_bytes_are_a_one_line_error_unless_a_serialized_doc(nlp):
    import pickle

    from pipeline.errors import TextInputError

    with pytest.raises(TextInputError, match="not a serialized Doc.*pass text as a str"):
        nlp("京都の紅葉".encode())
    with pytest.raises(TextInputError, match="not bytes"):
        nlp.tokenizer(b"abc")
    doc = nlp("京都の紅葉")
    assert nlp(doc.to_bytes()).text == "京都の紅葉"  # spaCy's own use of bytes still works
    assert pickle.loads(pickle.dumps(nlp))("京都の紅葉").cats == pytest.approx(doc.cats)


def test_the_full_ginza_pipeline_keeps_the_long_text_tokenizer():
    import pipeline
    from pipeline.tokenizer import SUDACHI_MAX_BYTES

    full = pipeline.load(full_ginza=True)
    assert full("京都の紅葉がきれいでした。")[1].dep_ == "case"  # GiNZA's parser is there and runs
    text = "京都の紅葉がきれいでした。" * 1550  # ~60 KB: SudachiError with ja_ginza's own tokenizer
    assert len(text.encode()) > SUDACHI_MAX_BYTES
    with full.select_pipes(enable=["theme"]):  # the parser on 60 KB takes ~20 s; the tokenizer is what failed
        doc = full(text)
    assert doc.text == text and len(doc) == 8 * 1550 and doc.cats["京都観光"] > 0.5


# --- damaged model folders ---------------------------------------------------------------------

def _copy_model(name, tmp_path):
    import shutil
    from pathlib import Path

    return Path(shutil.copytree(Path(__file__).resolve().parents[1] / "models" / name, tmp_path / name))


def _truncate(path, keep=0.5):
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


@pytest.mark.parametrize("damage, named, message", [
    (lambda m: _truncate(m / "theme" / "model"), "theme/model", "truncated or corrupt"),
    (lambda m: (m / "theme" / "model").unlink(), "theme", "model is missing"),
    (lambda m: (m / "theme" / "cfg").write_text("{", encoding="utf-8"), "theme/cfg", "not valid JSON"),
    (lambda m: _truncate(m / "meta.json"), "meta.json", "not valid JSON"),
])
def test_a_damaged_classifier_pipeline_is_a_model_error_naming_the_file(tmp_path, damage, named, message):
    import pipeline
    from pipeline.errors import ModelError

    model = _copy_model("theme", tmp_path)
    damage(model)
    with pytest.raises(ModelError, match=message) as caught:
        pipeline.load(model)
    assert str(model / named) in str(caught.value) and "\n" not in str(caught.value)
    result = runner.invoke(app, ["classify", "--model", str(model), "京都"])
    assert result.exit_code == 2 and str(model / named) in result.output
    if named.startswith("theme"):  # a component's own files: plain spacy.load names them too
        import spacy

        with pytest.raises(ModelError, match=message) as caught:
            spacy.load(model)
        assert str(model / named) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("damage, named, message", [
    (lambda m: _truncate(m / "model.pt"), "model.pt", "truncated or corrupt"),
    (lambda m: (m / "model.pt").write_bytes(b""), "model.pt", "truncated or corrupt"),
    (lambda m: _truncate(m / "generator.json"), "generator.json", "not valid JSON"),
    (lambda m: (m / "generator.json").write_text('{"kind": "lm"}', encoding="utf-8"), "generator.json", "KeyError"),
    (lambda m: (m / "model.pt").unlink(), "", "model.pt is missing"),
])
def test_a_damaged_generator_folder_is_a_model_error_naming_the_file(tmp_path, damage, named, message):
    from pipeline.errors import GenerationError, ModelError
    from pipeline.models.generator import load_generator

    model = _copy_model("lm", tmp_path)
    damage(model)
    with pytest.raises(ModelError, match=message) as caught:
        load_generator(model)
    assert isinstance(caught.value, GenerationError)  # what load_generator raised before, still
    assert str(model / named) in str(caught.value) and "\n" not in str(caught.value)
    result = runner.invoke(app, ["generate", "--model", str(model), "今日は"])
    assert result.exit_code == 2 and message in result.output


def test_a_pipeline_whose_generator_is_damaged_is_a_model_error_naming_the_file(tmp_path):
    import pipeline
    from pipeline.errors import ModelError

    model = _copy_model("knbc-keywords", tmp_path)
    _truncate(model / "generator_keywords" / "model.pt")
    with pytest.raises(ModelError, match="truncated or corrupt") as caught:
        pipeline.load(model)
    assert str(model / "generator_keywords" / "model.pt") in str(caught.value)
