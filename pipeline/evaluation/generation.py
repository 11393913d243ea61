"""Evaluating the generators on the held-out articles (the shared test split), in one run, with baselines:
the same Seq2Seq without attention, keyword retrieval, and a Kneser–Ney 3-gram LM for the LSTM LM."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from pipeline.evaluation.generation_metrics import generation_scores
from pipeline.evaluation.ngram_lm import KneserNeyLM
from pipeline.evaluation.retrieval import KeywordRetriever
from pipeline.models.generator import DEFAULT_NO_REPEAT_NGRAM, Decoding, Seq2SeqGenerator, load_generator
from pipeline.models.vocabulary import UNK
from pipeline.training.generation import article_streams, lm_nll, seq2seq_dev_scores
from pipeline.training.generation_tasks import split_articles, task_pairs

GREEDY = Decoding(method="greedy")
BEAM4 = Decoding(method="beam", beam_size=4)
BEAM4_BLOCKED = Decoding(method="beam", beam_size=4, no_repeat_ngram=DEFAULT_NO_REPEAT_NGRAM)


def decode_all(generator: Seq2SeqGenerator, pairs, decoding: Decoding) -> tuple[list, float]:
    """Every pair's generation, and sentences per second."""
    started = time.perf_counter()
    outputs = [generator.generate(p.source, decoding) for p in pairs]
    return outputs, len(pairs) / (time.perf_counter() - started)


# the decodings a generator's tuned decoding is chosen from on dev pairs (beam search, bigram block, a
# length penalty from GNMT's default to one that favours longer sentences)
DECODING_CANDIDATES = {
    "beam 4, length penalty 0.6": Decoding(beam_size=4, length_penalty=0.6, no_repeat_ngram=DEFAULT_NO_REPEAT_NGRAM),
    "beam 4, length penalty 1.0": Decoding(beam_size=4, length_penalty=1.0, no_repeat_ngram=DEFAULT_NO_REPEAT_NGRAM),
    "beam 4, length penalty 2.0": Decoding(beam_size=4, length_penalty=2.0, no_repeat_ngram=DEFAULT_NO_REPEAT_NGRAM),
    "beam 8, length penalty 1.5": Decoding(beam_size=8, length_penalty=1.5, no_repeat_ngram=DEFAULT_NO_REPEAT_NGRAM),
}


def choose_decoding(generator, pairs, candidates: dict[str, Decoding] = DECODING_CANDIDATES
                    ) -> tuple[str, Decoding, dict[str, float]]:
    """(label, decoding) of the candidate with the highest chrF on ``pairs`` (dev pairs: never the test
    ones), and every candidate's chrF; a tie goes to the first candidate."""
    scores = {}
    for label, decoding in candidates.items():
        generated, _ = decode_all(generator, pairs, decoding)
        scores[label] = score_outputs([g.tokens for g in generated], pairs)["chrf"]
    best = max(scores, key=lambda label: (scores[label], -list(candidates).index(label)))
    return best, candidates[best], scores


def choose_saved_decoding(folder: str | Path, task: str) -> dict:
    """Choose the decoding of the Seq2Seq generator saved in ``folder`` on ``task``'s dev pairs
    (:func:`choose_decoding`), save it into its ``generator.json`` (what ``knbc assemble``, ``knbc generate``
    and ``pipeline.generate`` then use) and its ``metrics.json`` (``decoding_on_dev``); return the latter."""
    folder = Path(folder)
    generator = load_generator(folder)
    dev = task_pairs(task, "dev")
    label, generator.decoding, scores = choose_decoding(generator, dev)
    generator.save(folder)
    chosen = {"chosen": label, "chrf": scores, "dev_pairs": len(dev)}
    metrics_path = folder / "metrics.json"
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        metrics["decoding_on_dev"] = chosen
        metrics_path.write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    return chosen


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
        decodings = [("greedy", GREEDY), ("beam4", BEAM4), ("beam4, no repeated bigram", BEAM4_BLOCKED)]
        if generator.decoding is not None and generator.decoding not in dict(decodings).values():
            saved = generator.decoding  # chosen on the dev pairs when it was trained
            blocked = f", no repeated {saved.no_repeat_ngram}-gram" if saved.no_repeat_ngram else ""
            decodings.append((f"{saved.method} {saved.beam_size}, length penalty {saved.length_penalty}{blocked}; "
                              "chosen on dev", saved))
        for label, decoding in decodings:
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


def evaluate_generation(out_dir: str | Path, keywords_model: Path, keywords_no_attention: Path,
                        continuation_model: Path, lm_model: Path, n_samples: int = 8, n_heatmaps: int = 3,
                        limit: int | None = None) -> Path:
    """Score every generator and baseline on the test split (its first ``limit`` pairs, default all);
    write results.json (scores per task and system, and ``samples``: the first ``n_samples`` keyword
    sets with the reference and each system's sentence; ``test_pairs``: pairs scored per task; ``attention``:
    the source, generated tokens and attention weights of ``n_heatmaps`` generations) and return its path.
    :func:`pipeline.report.build.write_generation_report` turns it into report.md and heatmaps."""
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
    attention_system = "Seq2Seq + attention + copy (beam4)"
    attention = []
    for i in range(n_heatmaps):
        g = kw_outputs[attention_system][(i * 7) % len(pairs)]
        weights = [[round(float(w), 4) for w in row] for row in g.attention]
        attention.append({"source": list(g.source), "target": list(g.tokens), "weights": weights,
                          "title": f"{' '.join(g.source)} → {g.text}"})
    test_pairs = {"keywords": len(pairs), "continuation": len(task_pairs("continuation", "test")[:limit])}
    results = {"keywords": kw_rows, "continuation": cont_rows, "language_model": lm_rows, "samples": samples,
               "test_pairs": test_pairs, "attention": attention}
    results_path = out / "results.json"
    results_path.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return results_path
