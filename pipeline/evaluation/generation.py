"""Evaluating the generators on the held-out articles (the shared test split), in one run, with baselines:
the same Seq2Seq without attention, keyword retrieval, and a Kneser–Ney 3-gram LM for the LSTM LM."""

from __future__ import annotations

import json
import math
import textwrap
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib_fontja  # noqa: E402, F401  (Japanese glyphs in plots)
import torch  # noqa: E402

from pipeline.evaluation.generation_metrics import generation_scores  # noqa: E402
from pipeline.evaluation.ngram_lm import KneserNeyLM  # noqa: E402
from pipeline.evaluation.retrieval import KeywordRetriever  # noqa: E402
from pipeline.models.generator import Decoding, Seq2SeqGenerator, load_generator  # noqa: E402
from pipeline.models.vocabulary import UNK  # noqa: E402
from pipeline.training.generation import article_streams, lm_nll, seq2seq_dev_scores  # noqa: E402
from pipeline.training.generation_tasks import split_articles, task_pairs  # noqa: E402

GREEDY = Decoding(method="greedy")
BEAM4 = Decoding(method="beam", beam_size=4)


def decode_all(generator: Seq2SeqGenerator, pairs, decoding: Decoding) -> tuple[list, float]:
    """Every pair's generation, and sentences per second."""
    started = time.perf_counter()
    outputs = [generator.generate(p.source, decoding) for p in pairs]
    return outputs, len(pairs) / (time.perf_counter() - started)


def score_outputs(tokens: list[list[str]], pairs) -> dict:
    """chrF, character and token BLEU, distinct-1/2 of generated token lists against the pairs' targets."""
    return generation_scores(
        ["".join(t) for t in tokens], ["".join(p.target) for p in pairs], tokens, [p.target for p in pairs]
    )


def evaluate_seq2seq(task: str, models: dict[str, Path], limit: int | None = None) -> tuple[dict, dict]:
    """(rows by system, outputs by system) for a Seq2Seq task on the test split."""
    pairs = task_pairs(task, "test")[:limit]
    rows, outputs = {}, {}
    for name, path in models.items():
        generator = load_generator(path)
        perplexity = seq2seq_dev_scores(generator.model, generator.vocab, pairs, generator.options)["dev_perplexity"]
        for label, decoding in (("greedy", GREEDY), ("beam4", BEAM4)):
            generated, rate = decode_all(generator, pairs, decoding)
            system = f"{name} ({label})"
            rows[system] = {**score_outputs([g.tokens for g in generated], pairs), "perplexity": perplexity,
                            "sentences_per_s": rate}
            outputs[system] = generated
    if task == "keywords":
        retriever = KeywordRetriever([(p.source, "\x00".join(p.target)) for p in task_pairs(task, "train")])
        retrieved = [r.split("\x00") for r in retriever.retrieve_batch([p.source for p in pairs])]
        rows["retrieval (most keyword overlap)"] = score_outputs(retrieved, pairs)
        outputs["retrieval (most keyword overlap)"] = retrieved
    return rows, outputs


def evaluate_language_models(lm_path: Path) -> dict:
    """Test perplexity of the LSTM LM and of a Kneser–Ney 3-gram on the same tokens and vocabulary."""
    generator = load_generator(lm_path)
    vocab = generator.vocab
    test_articles, test_themes = split_articles("test")
    streams = article_streams(test_articles, test_themes, vocab)
    nll, count = lm_nll(generator.model, streams, 16, generator.options.bptt)
    closed = lambda sentences: [[t if t in vocab.stoi else UNK for t in s] for s in sentences]  # noqa: E731
    train_sentences = closed(s for a in split_articles("train")[0] for s in a)
    test_sentences = closed(s for a in test_articles for s in a)
    kn = KneserNeyLM(order=3, min_count=1).fit(train_sentences)
    return {
        "LSTM LM (theme-conditioned)": {"perplexity": math.exp(nll / count), "tokens": count},
        "Kneser-Ney 3-gram": {"perplexity": kn.perplexity(test_sentences),
                              "tokens": sum(len(s) + 1 for s in test_sentences)},
    }


def plot_attention(source: list[str], target: list[str], weights: list[list[float]], path: Path, title: str) -> Path:
    """An attention heatmap (target rows × source columns) with the Japanese tokens as labels."""
    fig, ax = plt.subplots(figsize=(max(3, 0.5 * len(source) + 2), max(3, 0.35 * len(target) + 1.5)))
    ax.imshow(torch.tensor(weights).numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(source)), source, rotation=60, ha="right")
    ax.set_yticks(range(len(target)), target)
    ax.set_xlabel("source (keywords)")
    ax.set_ylabel("generated")
    ax.set_title(textwrap.fill(title, 24), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _table(rows: dict, columns: list[str]) -> list[str]:
    lines = ["| system | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for system, row in rows.items():
        cells = [f"{row[c]:.2f}" if isinstance(row.get(c), float) else str(row.get(c, "–")) for c in columns]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return lines


def evaluate_generation(out_dir: str | Path, keywords_model: Path, keywords_no_attention: Path,
                        continuation_model: Path, lm_model: Path, n_samples: int = 8, n_heatmaps: int = 3,
                        limit: int | None = None) -> Path:
    """Score every generator and baseline on the test split (its first ``limit`` pairs, default all);
    write results.json (scores per task and system, and ``samples``: the first ``n_samples`` keyword
    sets with the reference and each system's sentence), report.md and attention heatmaps."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kw_rows, kw_outputs = evaluate_seq2seq("keywords", {"Seq2Seq + attention + copy": keywords_model,
                                                        "Seq2Seq, no attention": keywords_no_attention}, limit)
    cont_rows, _ = evaluate_seq2seq("continuation", {"Seq2Seq + attention + copy": continuation_model}, limit)
    lm_rows = evaluate_language_models(lm_model)
    pairs = task_pairs("keywords", "test")[:limit]
    samples = [
        {"source": " ".join(pair.source),
         "outputs": {"reference": "".join(pair.target),
                     **{system: generated[i].text if hasattr(generated[i], "text") else "".join(generated[i])
                        for system, generated in kw_outputs.items()}}}
        for i, pair in enumerate(pairs[:n_samples])
    ]
    results = {"keywords": kw_rows, "continuation": cont_rows, "language_model": lm_rows, "samples": samples}
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")

    attention_system = "Seq2Seq + attention + copy (beam4)"
    heatmaps = []
    for i in range(n_heatmaps):
        g = kw_outputs[attention_system][(i * 7) % len(pairs)]
        heatmaps.append(plot_attention(g.source, g.tokens, g.attention, out / f"attention_{i}.png",
                                       f"{' '.join(g.source)} → {g.text}"))
    columns = ["chrf", "char_bleu", "token_bleu", "distinct_1", "distinct_2", "perplexity", "sentences_per_s"]
    lines = ["# Generation on held-out articles (the shared test split)", "",
             f"keywords → sentence: {len(pairs)} test sentences; continuation: "
             f"{len(task_pairs('continuation', 'test')[:limit])} sentence pairs. chrF and character BLEU ignore spaces; "
             "token BLEU and distinct-n are over GiNZA tokens; perplexity is teacher-forced, per target token.", "",
             "## keywords → sentence", "", *_table(kw_rows, columns), "",
             "## continuation (sentence + theme → next sentence)", "", *_table(cont_rows, columns), "",
             "## language models (test perplexity, same tokens, same closed vocabulary)", "",
             *_table(lm_rows, ["perplexity", "tokens"]), "", "## Samples (keywords → sentence)", ""]
    for sample in samples:
        lines += [f"**{sample['source']}**", ""]
        lines += [f"- {system}: {text}" for system, text in sample["outputs"].items()]
        lines.append("")
    lines += ["## Attention (keywords → sentence, beam 4)", ""] + [f"![attention]({p.name})" for p in heatmaps]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report
