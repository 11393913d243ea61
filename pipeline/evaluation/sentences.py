"""``knbc evaluate-splitter``: the sentence splitter (``knbc_sentences``) against KNBC's sentences of whole articles.

Each article is joined into running text (:func:`pipeline.corpus.articles.article_text`: asides restored, a
line break after each sentence, or nothing between the sentences of the body), run through GiNZA's tokenizer
and the splitter, and the predicted sentence starts are compared with the gold ones: a boundary is the
character offset where a sentence (but the first) begins, its first character that is not a space.
Writes ``results.json`` (scores and counts per variant, error categories, speed) and ``README.md`` (the
table, the categories and the 20 commonest errors with their context).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from spacy.language import Language
from spacy.tokens import Doc

from pipeline.corpus.articles import SEPARATORS, ArticleText, article_text
from pipeline.corpus.records import Corpus
from pipeline.sentences import ELLIPSES, SENTENCE_SYMBOLS, STRONG_MARKS, BoundaryScores, boundary_scores

CONTEXT = 20  # characters of context each side of an error


@dataclass(frozen=True)
class BoundaryMistake:
    """A missed gold boundary (``"missed"``) or a predicted one that is not gold (``"spurious"``)."""

    kind: str
    category: str
    article_id: str
    offset: int
    context: str  # the text around the offset, ``‖`` at the offset, line breaks as ``⏎``


def doc_sentence_starts(doc: Doc) -> list[int]:
    """The character offset of each of ``doc.sents``' first character that is not a space or line break."""
    starts = []
    for sent in doc.sents:
        stripped = len(sent.text) - len(sent.text.lstrip())
        if stripped < len(sent.text):
            starts.append(sent.start_char + stripped)
    return starts


def error_category(text: str, offset: int) -> str:
    """What stands before a boundary at ``offset``: the kind of sentence end the rules see there (or miss)."""
    before = text[:offset].rstrip()
    if offset and text[offset - 1] == "\n" or "\n" in text[len(before):offset]:
        return "line break"
    last = before[-1:] if before else ""
    if not last:
        return "start"
    if before.endswith(("．．", "..", "・・")):
        return "ellipsis"
    if last in STRONG_MARKS or last in "．.":
        return "。！？ mark"
    if last in ELLIPSES or last == "・":
        return "ellipsis"
    if last in "」』”":
        return "closing quote"
    if last in "）)】］":
        return "closing bracket or kaomoji"
    if last in SENTENCE_SYMBOLS or last in "＾^ｗw笑〜ー":
        return "symbol, laughter, 〜 or ー"
    if last.isalnum():
        return "no mark (a word)"
    return "other symbol"


def _context(text: str, offset: int) -> str:
    return (text[max(0, offset - CONTEXT):offset] + "‖" + text[offset:offset + CONTEXT]).replace("\n", "⏎")


def score_articles(nlp: Language, articles: Iterable[ArticleText]) -> tuple[BoundaryScores, list[BoundaryMistake], int]:
    """Boundary scores of ``nlp``'s sentences over ``articles``, the errors, and the number of gold sentences."""
    articles = list(articles)
    total, errors, sentences = BoundaryScores(0, 0, 0), [], 0
    for article, doc in zip(articles, nlp.pipe(a.text for a in articles)):
        predicted = doc_sentence_starts(doc)
        total = total + boundary_scores(article.boundaries, predicted)
        sentences += len(article.starts)
        gold, found = set(article.boundaries), {offset for offset in predicted if offset > 0}
        for kind, offsets in (("missed", gold - found), ("spurious", found - gold)):
            errors += [BoundaryMistake(kind, error_category(article.text, o), article.article_id, o,
                                     _context(article.text, o)) for o in sorted(offsets)]
    return total, errors, sentences


def splitter_pipeline() -> Language:
    """GiNZA's tokenizer and ``knbc_sentences``, nothing else (what ``pipeline.load()`` runs before the classifiers)."""
    import pipeline.components  # noqa: F401  (registers the factory)
    from pipeline.ginza import blank_japanese

    nlp = blank_japanese()
    nlp.add_pipe("knbc_sentences")
    return nlp


def splitter_speed(texts: list[str], sentences: int, rounds: int = 5) -> dict:
    """Throughput of GiNZA's tokenizer alone and with the splitter on ``texts`` (``sentences`` sentences in
    them). Each round tokenizes the texts (``nlp.tokenizer.pipe``), then runs the splitter on those Docs
    (``pipe``), each timed on its own, so that the splitter's share does not drown in the tokenizer's
    noise on a shared machine; the best round of each counts."""
    nlp = splitter_pipeline()
    splitter = nlp.get_pipe("knbc_sentences")
    tokenize, split = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        docs = list(nlp.tokenizer.pipe(texts))
        tokenize.append(time.perf_counter() - start)
        start = time.perf_counter()
        for _doc in splitter.pipe(docs):
            pass
        split.append(time.perf_counter() - start)
    tokenizer_seconds, splitter_seconds = min(tokenize), min(split)
    both = tokenizer_seconds + splitter_seconds
    return {"texts": len(texts), "sentences": sentences, "rounds": rounds, "tokenizer_seconds": tokenizer_seconds,
            "splitter_seconds": splitter_seconds, "tokenizer_sentences_per_s": sentences / tokenizer_seconds,
            "with_splitter_sentences_per_s": sentences / both, "splitter_share": splitter_seconds / both}


def evaluate_splitter(corpus: Corpus, separators: Iterable[str] = tuple(SEPARATORS), speed: bool = True) -> dict:
    """Scores, counts and errors of the splitter on every article of ``corpus``, per way of joining sentences."""
    nlp = splitter_pipeline()
    grouped = corpus.articles()
    results: dict = {"articles": len(grouped), "corpus_records": len(corpus.sentences),
                     "asides_restored": sum(1 for s in corpus.sentences if s.is_parenthetical), "variants": {}}
    for separator in separators:
        articles = [article_text(records, separator) for records in grouped.values()]
        scores, errors, sentences = score_articles(nlp, articles)
        categories = Counter((e.kind, e.category) for e in errors)
        results["variants"][separator] = {
            "sentences": sentences, "gold_boundaries": sentences - len(articles), **scores.as_dict(),
            "error_categories": [{"kind": k, "category": c, "count": n} for (k, c), n in categories.most_common()],
            "errors": [e.__dict__ for e in errors],
        }
        if speed and separator == "none":
            results["speed"] = {"articles": splitter_speed([a.text for a in articles], sentences),
                                "single_sentences": splitter_speed([s.text for s in corpus.sentences if s.text],
                                                                   sum(1 for s in corpus.sentences if s.text))}
    return results


def common_errors(errors: list[dict], count: int = 20) -> list[dict]:
    """``count`` errors from the commonest categories first, taken in turn across the categories (so that
    each common category shows examples)."""
    by_category: dict[tuple[str, str], list[dict]] = {}
    for error in errors:
        by_category.setdefault((error["kind"], error["category"]), []).append(error)
    queues = sorted(by_category.values(), key=len, reverse=True)
    picked: list[dict] = []
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.pop(0))
    return picked


def markdown_report(results: dict) -> str:
    """The Markdown summary of :func:`evaluate_splitter`'s results."""
    lines = ["# Sentence splitter against KNBC's sentences of whole articles", "",
             f"{results['articles']} articles; {results['asides_restored']} parenthesised asides put back into their "
             "sentences. A boundary is the offset where a sentence but the first begins.", "",
             "| sentences joined with | gold boundaries | predicted | correct | precision | recall | F1 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, v in results["variants"].items():
        lines.append(f"| {name} | {v['gold_boundaries']} | {v['true_positives'] + v['false_positives']} | "
                     f"{v['true_positives']} | {v['precision']:.4f} | {v['recall']:.4f} | {v['f1']:.4f} |")
    if "speed" in results:
        lines += ["", "Speed (best of 5 rounds; the tokenizer and the splitter timed apart, one thread):", "",
                  "| texts | tokenizer alone, sentences/s | tokenizer + splitter, sentences/s | splitter's share of the time |",
                  "|---|---:|---:|---:|"]
        for name, s in results["speed"].items():
            what = f"{s['texts']} articles (joined with nothing)" if name == "articles" else \
                f"{s['texts']} corpus sentences, one a text"
            lines.append(f"| {what} | {s['tokenizer_sentences_per_s']:.0f} | {s['with_splitter_sentences_per_s']:.0f} | "
                         f"{100 * s['splitter_share']:.1f}% |")
    for name, v in results["variants"].items():
        lines += ["", f"## Errors, sentences joined with {name}", "", "| kind | before the boundary | count |",
                  "|---|---|---:|"]
        lines += [f"| {c['kind']} | {c['category']} | {c['count']} |" for c in v["error_categories"]]
        lines += ["", "The 20 commonest (`‖` the boundary, `⏎` a line break):", ""]
        lines += [f"- {e['kind']}, {e['category']}, {e['article_id']}: `{e['context']}`" for e in common_errors(v["errors"])]
    return "\n".join(lines) + "\n"


def write_splitter_report(results: dict, out: str | Path) -> Path:
    """``out/results.json`` and ``out/README.md``; returns ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    (out / "README.md").write_text(markdown_report(results), encoding="utf-8")
    return out
