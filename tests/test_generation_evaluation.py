"""`knbc train-generator` and the generation report, end to end with tiny models (one epoch each)."""

import json

import torch

from pipeline.evaluation.generation import evaluate_generation
from pipeline.report.build import write_generation_report
from pipeline.training.generation import GenerationSettings, LMOptions, Seq2SeqOptions
from pipeline.training.generation_tasks import train_task

torch.set_num_threads(1)


def test_train_and_report(tmp_path):
    one_epoch = GenerationSettings(max_epochs=1, patience=1, batch_size=64)
    tiny = dict(hidden_size=16, min_count=3, pretrained=False, max_target=30)
    paths = {}
    for name, task, options in [
        ("kw", "keywords", Seq2SeqOptions(**tiny)),
        ("kw_noattn", "keywords", Seq2SeqOptions(**tiny, attention="none", copy=False)),
        ("cont", "continuation", Seq2SeqOptions(**tiny)),
    ]:
        paths[name] = tmp_path / name
        metrics = train_task(task, paths[name], seq2seq_options=options, settings=one_epoch, progress=False)
        assert metrics["best_epoch"] == 1 and metrics["dev"]["dev_perplexity"] > 1
    lm_options = LMOptions(embed_dim=16, hidden_size=16, min_count=3, pretrained=False)
    train_task("lm", tmp_path / "lm", lm_options=lm_options, settings=GenerationSettings(max_epochs=1, batch_size=16),
               progress=False)
    results_path = evaluate_generation(tmp_path / "report", paths["kw"], paths["kw_noattn"], paths["cont"],
                                       tmp_path / "lm", n_samples=2, n_heatmaps=1, limit=20)
    assert results_path == tmp_path / "report" / "results.json"
    results = json.loads(results_path.read_text())
    assert set(results) == {"keywords", "continuation", "language_model", "samples", "test_pairs", "attention"}
    assert results["test_pairs"]["keywords"] == 20 and len(results["attention"]) == 1
    assert len(results["samples"]) == 2
    for sample in results["samples"]:
        assert list(sample["outputs"])[0] == "reference" and set(results["keywords"]) <= set(sample["outputs"])
    assert "retrieval (most keyword overlap)" in results["keywords"]
    for row in results["keywords"].values():
        assert 0 <= row["chrf"] <= 100
    assert results["language_model"]["Kneser-Ney 3-gram"]["perplexity"] > 1
    text = write_generation_report(tmp_path / "report").read_text()
    assert "**keywords → sentence**" in text and "(attention_0.png)" in text
    sample = results["samples"][0]
    assert f"**{sample['source']}**" in text and f"| reference | {sample['outputs']['reference']} |" in text
    assert (tmp_path / "report" / "attention_0.png").stat().st_size > 5000
