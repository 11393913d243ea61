"""`knbc benchmark` runs end to end on a tiny model (what it measures is not asserted: no timed tests)."""

import time

from test_textcat import overfit

from pipeline.evaluation.benchmark import benchmark
from pipeline.loading import save_pipeline


def test_benchmark_reports_every_figure(tmp_path):
    nlp, _ = overfit(epochs=1)
    save_pipeline(nlp, tmp_path / "tiny")
    results = benchmark(tmp_path / "tiny", texts=["京都の紅葉がきれいでした。"] * 20, repeats=1, latency_calls=5)
    assert results["components"] == ["knbc_vectors", "knbc_sentences", "theme"] and results["texts"] == 20
    for key in ("tokenizer_sentences_per_s", "pipeline_sentences_per_s", "latency_ms_median", "peak_rss_mb"):
        assert results[key] > 0
    assert list(results["seconds_per_step"]) == ["tokenizer", "knbc_vectors", "knbc_sentences", "theme"]
    assert all(seconds >= 0 for seconds in results["seconds_per_step"].values())
    assert results["seconds_per_step"]["tokenizer"] > 0


def test_component_seconds_charges_each_component_its_own_time():
    """A component that sleeps is charged the sleep; the tokenizer and the others are not."""
    import spacy
    from spacy.language import Language

    from pipeline.evaluation.benchmark import component_seconds

    @Language.component("knbc_test_sleeper")
    def sleeper(doc):
        time.sleep(0.01)
        return doc

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("knbc_test_sleeper")
    seconds = component_seconds(nlp, ["a b c."] * 10)
    assert list(seconds) == ["tokenizer", "sentencizer", "knbc_test_sleeper"]
    assert seconds["knbc_test_sleeper"] >= 0.09
    assert seconds["tokenizer"] < 0.05 and seconds["sentencizer"] < 0.05


def test_generation_benchmark_on_the_shipped_keywords_model():
    from pipeline.evaluation.benchmark import generation_benchmark
    from pipeline.loading import MODELS_DIR

    results = generation_benchmark(MODELS_DIR / "generator-keywords", n_inputs=3)
    assert results["inputs"] == 3 and results["greedy_sentences_per_s"] > 0 and results["beam4_sentences_per_s"] > 0


def test_process_benchmark_runs_every_engine_on_the_same_texts():
    from pipeline.evaluation.benchmark import process_benchmark

    results = process_benchmark(n_process=2, chunk_size=8, texts=["京都の紅葉がきれいでした。", ""] * 10, longer=2)
    runs = ["tokenizer_only", "local_1_process", "local_2_processes", "dask_local_2_workers"]
    assert [results[run]["workers"] for run in runs] == [1, 1, 2, 2]
    for run in runs:
        assert results[run]["written"] == 10 and results[run]["errors"] == 10  # "" is an empty document
        assert results[f"{run}_x2"]["written"] == 20 and results[f"{run}_x2"]["docs_per_s"] > 0
    assert results["tokenizer_only"]["docs_per_s_over_tokenizer"] == 1.0
    ratio = results["local_1_process"]["docs_per_s"] / results["tokenizer_only"]["docs_per_s"]
    assert abs(results["local_1_process"]["docs_per_s_over_tokenizer"] - ratio) < 0.01


def test_benchmark_measures_the_loaded_pipeline_and_latency_under_load(tmp_path):
    nlp, _ = overfit(epochs=1)
    save_pipeline(nlp, tmp_path / "tiny")
    results = benchmark(tmp_path / "tiny", texts=["京都の紅葉がきれいでした。"] * 20, repeats=1, latency_calls=5, busy=1)
    assert results["components"] == ["knbc_vectors", "knbc_sentences", "theme"]  # what pipeline.load() gives
    assert results["pipeline_without_vectors_sentences_per_s"] > 0 and results["busy_processes"] == 1
    assert results["pipeline_without_sentences_sentences_per_s"] > 0
    for key in ("busy_latency_ms_median", "busy_latency_ms_p95", "busy_latency_torch_default_threads_ms_median"):
        assert results[key] > 0
