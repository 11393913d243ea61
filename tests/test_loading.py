"""pipeline.load: spaCy's exclude / disable, the vectors component it adds, torch's thread count."""

import pytest
import spacy
import torch

import pipeline
from pipeline.errors import SettingError
from pipeline.loading import DEFAULT_PIPELINE, TORCH_THREADS_ENV, torch_threads_setting


@pytest.fixture
def keep_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_excluded_pipes_are_absent_and_disabled_ones_present_but_off(keep_torch_threads):
    nlp = pipeline.load(exclude=["generator_continuation"], disable=["sentiment"])
    assert "generator_continuation" not in nlp.component_names
    assert "sentiment" in nlp.component_names and nlp.disabled == ["sentiment"]
    cats = nlp("京都の紅葉がきれいでした。").cats
    assert "京都観光" in cats and "positive" not in cats  # the disabled classifier did not run
    nlp.enable_pipe("sentiment")
    assert "positive" in nlp("京都の紅葉がきれいでした。").cats


def test_load_puts_the_vectors_component_first_unless_excluded(keep_torch_threads):
    nlp = pipeline.load(exclude=["generator_continuation", "sentiment"])
    assert nlp.pipe_names == ["knbc_vectors", "theme"]
    assert "knbc_vectors" not in pipeline.load(exclude=["knbc_vectors", "generator_continuation"]).component_names
    # the shipped pipeline holds it too, so spacy.load gives the same Docs
    assert spacy.load(DEFAULT_PIPELINE, exclude=["generator_continuation"]).pipe_names == ["knbc_vectors", "theme", "sentiment"]


def test_torch_threads_come_from_the_argument_then_the_environment_then_one(monkeypatch, keep_torch_threads):
    monkeypatch.delenv(TORCH_THREADS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert torch_threads_setting() == 1
    monkeypatch.setenv(TORCH_THREADS_ENV, "2")
    assert torch_threads_setting() == 2 and torch_threads_setting(3) == 3
    pipeline.load(exclude=["generator_continuation"])
    assert torch.get_num_threads() == 2
    torch.set_num_threads(3)
    pipeline.load(exclude=["generator_continuation"], torch_threads=0)  # 0: leave torch alone
    assert torch.get_num_threads() == 3
    monkeypatch.delenv(TORCH_THREADS_ENV)
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert torch_threads_setting() == 0  # the user chose through OpenMP's own variable
    monkeypatch.setenv(TORCH_THREADS_ENV, "many")
    with pytest.raises(SettingError, match=TORCH_THREADS_ENV):
        torch_threads_setting()
    with pytest.raises(SettingError, match=">= 0"):
        torch_threads_setting(-1)


def test_knbc_generate_runs_torch_on_the_threads_load_would(monkeypatch, keep_torch_threads):
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.setenv(TORCH_THREADS_ENV, "2")
    torch.set_num_threads(1)
    result = CliRunner().invoke(app, ["generate", "--method", "greedy", "京都 紅葉 きれい"])
    assert result.exit_code == 0 and torch.get_num_threads() == 2
    monkeypatch.setenv(TORCH_THREADS_ENV, "x")
    assert CliRunner().invoke(app, ["generate", "京都"]).exit_code == 2  # a one-line error, not a traceback
