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
    nlp = pipeline.load(exclude=["generator_continuation", "sentiment", "posts", "ner", "reputation"])
    assert nlp.pipe_names == ["knbc_vectors", "knbc_sentences", "theme"]
    assert "knbc_vectors" not in pipeline.load(exclude=["knbc_vectors", "generator_continuation"]).component_names
    # the shipped pipeline holds it too, so spacy.load gives the same Docs
    shipped = spacy.load(DEFAULT_PIPELINE, exclude=["generator_continuation"]).pipe_names
    assert shipped[:4] == ["knbc_vectors", "knbc_sentences", "theme", "sentiment"]


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


FORK_SCRIPT = """
import os, sys
import torch
torch.set_num_threads(3)
import pipeline, pipeline.api, pipeline.components, pipeline.loading  # noqa: E401
pipeline.classify  # the lazy export
nlp = pipeline.load(sys.argv[1], torch_threads=0) if len(sys.argv) > 1 else None


def child_threads(run):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        run()
        os.write(write, str(torch.get_num_threads()).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    return int(os.read(read, 16))


print(child_threads(lambda: None), child_threads(lambda: nlp and nlp("京都の紅葉")), torch.get_num_threads())
"""


def _fork_script(tmp_path, *args: str) -> list[int]:
    import subprocess
    import sys

    script = tmp_path / "fork.py"
    script.write_text(FORK_SCRIPT, encoding="utf-8")
    run = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return [int(n) for n in run.stdout.split()]


def test_importing_the_package_leaves_forked_children_their_threads(tmp_path):
    assert _fork_script(tmp_path) == [3, 3, 3]  # no fork hook: a DataLoader worker or a web worker keeps its setting


def test_a_forked_worker_that_runs_our_components_gets_one_thread_and_the_parent_keeps_its_own(tmp_path):
    import pathlib

    model = str(pathlib.Path(__file__).resolve().parents[1] / "models" / "theme")
    assert _fork_script(tmp_path, model) == [3, 1, 3]


def test_knbc_process_workers_run_torch_on_the_threads_asked(tmp_path):
    from pipeline.batch.annotate import AnnotateOptions
    from pipeline.batch.engines import ProcessPoolEngine

    engine = ProcessPoolEngine(AnnotateOptions(model=str(DEFAULT_PIPELINE), classifiers=("theme",)), 1)
    try:
        assert engine.pool.apply(torch.get_num_threads) == 1
    finally:
        engine.close()


def test_a_pipeline_is_saved_into_a_folder_whose_parents_do_not_exist_yet(tmp_path):
    from pipeline.ginza import blank_japanese
    from pipeline.loading import save_pipeline

    path = save_pipeline(blank_japanese(), tmp_path / "not" / "yet" / "there")
    assert (path / "config.cfg").is_file() and (path / "meta.json").is_file()


def test_the_full_ginza_pipeline_keeps_both_ners_ours_under_a_prefix(keep_torch_threads):
    full = pipeline.load(full_ginza=True, exclude=["generator_continuation", "posts", "reputation"])
    assert full.pipe_names.index("ner") < full.pipe_names.index("knbc_ner")
    assert full.get_pipe_meta("knbc_ner").factory == "knbc_tagger"
    assert {e.label_ for e in full("京都の清水寺に行った。").ents} <= {"LOCATION", "ORGANIZATION", "PERSON", "ARTIFACT",
                                                                 "DATE", "TIME", "MONEY", "PERCENT", "OPTIONAL"}
    ginza_only = pipeline.load(full_ginza=True, exclude=["generator_continuation", "posts", "reputation"],
                               disable=["knbc_ner"])
    assert "knbc_ner" in ginza_only.disabled and "ner" not in ginza_only.disabled
