"""Training the post classifier (``knbc_post_classifier``): posts from the KNBC articles or from a user's
JSONL of whole posts, a seeded loop with early stopping on dev, and ``knbc train-posts``.

A KNBC post is one article: its gold sentences (the corpus's own boundaries, set as the Doc's sentence
starts), the article's theme for the post and for every sentence, and each sentence's sentiment. A user's
post is one line ``{"text": ..., "label": ...}``: it is split into sentences by the pipeline's own
components before the classifier (a sentence splitter, when the pipeline has one), else after 。！？!?
and at line breaks (:func:`simple_sentence_starts`); its sentences are labelled with the post's label
and no sentiment is learnt from it.
"""

from __future__ import annotations

import json
import math
import random
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from spacy.language import Language
from spacy.tokens import Doc

from pipeline.corpus.labels import SENTIMENT_LABELS, THEME_LABELS
from pipeline.corpus.records import SentenceRecord
from pipeline.errors import DataError, UsageError
from pipeline.models.posts import PostFeatures, pad_posts, simple_sentence_starts
from pipeline.training.metrics import classification_scores
from pipeline.training.settings import checked_dataclass, has_key, lookup, provenance, read_config

IGNORE = -100  # a sentence label not to learn from (user posts have no sentiment)


@dataclass
class PostExample:
    """One post to learn from: its Doc (with sentence starts) and gold labels."""

    doc: Doc
    label: str  # the post's theme
    sentence_themes: list[str]  # one per sentence
    sentiments: list[str] | None  # one per sentence, None when unknown
    post_id: str = ""


@dataclass
class PostTrainSettings:
    """How ``knbc train-posts`` trains (``[training]`` of models/configs/posts.cfg)."""

    seed: int = 0
    max_epochs: int = 20
    patience: int = 5  # epochs without a better dev score
    batch_size: int = 8  # posts per update
    learn_rate: float = 2e-3
    grad_clip: float = 5.0
    weight_decay: float = 0.0
    post_weight: float = 1.0  # loss = post_weight * CE(post) + sentence_theme_weight * CE(sentence themes)
    sentence_theme_weight: float = 1.0  # + sentiment_weight * CE(sentiments), sentence terms averaged over sentences
    sentiment_weight: float = 1.0
    sentiment_balance: float = 0.0  # weight a sentiment class by (n / (K n_class)) ** this (0: unweighted)

    def __post_init__(self):
        if self.max_epochs < 1 or self.batch_size < 1 or self.patience < 0:
            raise ValueError(f"max_epochs and batch_size must be >= 1 and patience >= 0: {self}")


POST_KEYS = {f.name: f"training.{f.name}" for f in PostTrainSettings.__dataclass_fields__.values()}


def article_doc(nlp: Language, sentences: Sequence[str]) -> Doc:
    """One Doc of an article's sentences (their texts joined), each sentence's tokens as the tokenizer
    gives them alone, and the sentence starts set at the gold boundaries."""
    parts = [nlp.make_doc(text) for text in sentences if text]
    with warnings.catch_warnings():  # GiNZA's sub_tokens user data cannot be merged (W102); nothing reads it
        warnings.simplefilter("ignore", UserWarning)
        doc = Doc.from_docs(parts, ensure_whitespace=False) if parts else nlp.make_doc("")
    starts = set(np.cumsum([0] + [len(p) for p in parts[:-1]]).tolist())
    for i, token in enumerate(doc):
        token.is_sent_start = i in starts
    return doc


def knbc_post_examples(nlp: Language, records: Sequence[SentenceRecord]) -> list[PostExample]:
    """One example per KNBC article of ``records`` (in corpus order), gold sentences as its sentences."""
    articles: dict[str, list[SentenceRecord]] = {}
    for record in records:
        if record.text:
            articles.setdefault(record.article_id, []).append(record)
    examples = []
    for article_id, sentences in articles.items():
        doc = article_doc(nlp, [r.text for r in sentences])
        theme = sentences[0].theme
        examples.append(PostExample(doc, theme, [theme] * len(sentences), [r.sentiment for r in sentences], article_id))
    return examples


def read_posts_jsonl(path: str | Path) -> list[tuple[str, str]]:
    """(text, label) of each line ``{"text", "label"}`` of a JSONL file; a bad line is a one-line
    :class:`DataError` naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix != ".jsonl":
        raise DataError(f"{path}: expected a .jsonl file of whole posts, one {{\"text\", \"label\"}} a line")
    posts = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{lineno}: not a JSON object: {err.msg}") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{lineno}: expected an object with 'text' and 'label'")
        text, label = row.get("text"), row.get("label")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}:{lineno}: 'text' must be a non-empty string, found {text!r}")
        if not isinstance(label, str) or not label:
            raise DataError(f"{path}:{lineno}: 'label' must be a non-empty string, found {label!r}")
        posts.append((text, label))
    if not posts:
        raise DataError(f"{path}: no posts")
    return posts


def split_post(nlp: Language, text: str, component: str) -> Doc:
    """A user's post as the classifier will see it: the pipeline's components before ``component`` run
    on it (a sentence splitter among them sets the sentences), else :func:`simple_sentence_starts`."""
    doc = nlp.make_doc(text)
    for name, proc in nlp.pipeline:
        if name == component:
            break
        doc = proc(doc)
    return simple_sentence_starts(doc)


def user_post_examples(nlp: Language, path: Path, component: str) -> list[PostExample]:
    examples = []
    for i, (text, label) in enumerate(read_posts_jsonl(path), start=1):
        doc = split_post(nlp, text, component)
        n = len(list(doc.sents)) if len(doc) else 0
        examples.append(PostExample(doc, label, [label] * n, None, f"{path.name}:{i}"))
    return examples


@dataclass
class PostTrainResult:
    best_epoch: int
    best_score: float
    dev_scores: dict
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def _targets(examples: Sequence[PostExample], themes: Sequence[str], sentiments: Sequence[str], slots: int):
    post = torch.tensor([themes.index(e.label) for e in examples], dtype=torch.long)  # (P,)
    theme = torch.full((len(examples), slots), IGNORE, dtype=torch.long)  # (P, S)
    sentiment = torch.full((len(examples), slots), IGNORE, dtype=torch.long)  # (P, S)
    for p, example in enumerate(examples):
        for s, label in enumerate(example.sentence_themes[:slots]):
            theme[p, s] = themes.index(label)
        for s, label in enumerate((example.sentiments or [])[:slots]):
            sentiment[p, s] = sentiments.index(label)
    return post, theme, sentiment


def predict_posts(component, features: Sequence[PostFeatures], batch_size: int = 16) -> list[dict]:
    """The network's probabilities for posts' features: ``{"post", "theme", "sentiment", "attention"}``
    numpy arrays per post (sentence rows only)."""
    network, options = component.network, component.options
    network.eval()
    out_rows = []
    with torch.inference_mode():
        for start in range(0, len(features), batch_size):
            group = features[start:start + batch_size]
            out = network(*pad_posts(group, options.max_words, options.max_sentences).args())
            for row, post in enumerate(group):
                n = min(len(post.sentences), options.max_sentences)
                out_rows.append({
                    "post": torch.softmax(out["post"][row], -1).numpy(),
                    "theme": torch.softmax(out["sentence_theme"][row, :n], -1).numpy(),
                    "sentiment": torch.softmax(out["sentence_sentiment"][row, :n], -1).numpy(),
                    "attention": out["attention"][row, :n].numpy(),
                })
    return out_rows


def post_scores(component, examples: Sequence[PostExample], features: Sequence[PostFeatures]) -> dict:
    """Post accuracy / macro-F1, sentence theme and sentiment scores (``classification_scores``) and ``score``,
    the sum of the macro-F1s that select the epoch (post, sentence theme, and sentiment when known)."""
    predicted = predict_posts(component, features)
    themes, sentiments = component.themes, component.sentiments
    post = classification_scores([e.label for e in examples], [themes[p["post"].argmax()] for p in predicted], themes)
    gold_t, pred_t, gold_s, pred_s = [], [], [], []
    for example, p in zip(examples, predicted):
        n = len(p["theme"])
        gold_t += example.sentence_themes[:n]
        pred_t += [themes[i] for i in p["theme"].argmax(-1)]
        if example.sentiments is not None:
            gold_s += example.sentiments[:n]
            pred_s += [sentiments[i] for i in p["sentiment"].argmax(-1)]
    theme = classification_scores(gold_t, pred_t, themes)
    scores = {"post": post, "sentence_theme": theme}
    score = post["macro_f1"] + theme["macro_f1"]
    if gold_s:
        scores["sentiment"] = classification_scores(gold_s, pred_s, sentiments)
        score += scores["sentiment"]["macro_f1"]
    return {**scores, "score": score}


def train_post_classifier(component, train: Sequence[PostExample], dev: Sequence[PostExample],
                          settings: PostTrainSettings, themes: Sequence[str], sentiments: Sequence[str] = SENTIMENT_LABELS,
                          log_path: Path | None = None, progress: bool = False) -> PostTrainResult:
    """Train ``component``'s network afresh (seeded) on ``train``; after each epoch score ``dev``
    (:func:`post_scores`) and keep the best epoch's weights; stop after ``patience`` epochs without a
    better score. The component ends with the best weights, in eval mode."""
    unknown = sorted({e.label for e in [*train, *dev]} - set(themes))
    if unknown:
        raise DataError(f"labels {unknown} are not among {list(themes)}")
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    network = component.new_network(themes, sentiments)
    network.reset_parameters()
    train_features = [component.features(e.doc)[1] for e in train]
    dev_features = [component.features(e.doc)[1] for e in dev]
    params = [p for p in network.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=settings.learn_rate, weight_decay=settings.weight_decay)
    counts = np.bincount([sentiments.index(s) for e in train for s in (e.sentiments or [])], minlength=len(sentiments))
    balance = np.where(counts > 0, (counts.sum() / (len(sentiments) * np.maximum(counts, 1))) ** settings.sentiment_balance, 1.0)
    sentiment_weight = torch.tensor(balance, dtype=torch.float32)
    order = list(range(len(train)))
    best: tuple[float, int, dict, dict] | None = None
    history = []
    started = time.perf_counter()
    log = open(log_path, "w", encoding="utf-8") if log_path else None
    try:
        for epoch in range(1, settings.max_epochs + 1):
            network.train()
            random.shuffle(order)
            total, steps = 0.0, 0
            for start in range(0, len(order), settings.batch_size):
                batch_ids = order[start:start + settings.batch_size]
                batch = pad_posts([train_features[i] for i in batch_ids], component.options.max_words,
                                  component.options.max_sentences)
                post_t, theme_t, sentiment_t = _targets([train[i] for i in batch_ids], themes, sentiments,
                                                        batch.token_ids.shape[1])
                out = network(*batch.args())
                loss = settings.post_weight * torch.nn.functional.cross_entropy(out["post"], post_t)
                if (theme_t != IGNORE).any():
                    loss = loss + settings.sentence_theme_weight * torch.nn.functional.cross_entropy(
                        out["sentence_theme"].flatten(0, 1), theme_t.flatten(), ignore_index=IGNORE)
                if (sentiment_t != IGNORE).any() and settings.sentiment_weight > 0:
                    loss = loss + settings.sentiment_weight * torch.nn.functional.cross_entropy(
                        out["sentence_sentiment"].flatten(0, 1), sentiment_t.flatten(), weight=sentiment_weight,
                        ignore_index=IGNORE)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
                optimizer.step()
                total, steps = total + loss.item(), steps + 1
            scores = post_scores(component, dev, dev_features)
            row = {"epoch": epoch, "loss": total / max(steps, 1), "dev": scores["score"],  # `knbc report`'s curve
                   "dev_scores": {"posts_score_desc": "post + sentence theme + sentiment macro-F1"},
                   "dev_post_accuracy": scores["post"]["accuracy"],
                   "dev_sentence_theme_macro_f1": scores["sentence_theme"]["macro_f1"],
                   "dev_sentiment_macro_f1": scores.get("sentiment", {}).get("macro_f1"),
                   "seconds": round(time.perf_counter() - started, 1)}
            history.append(row)
            if log:
                log.write(json.dumps(row) + "\n")
                log.flush()
            if progress:
                print(json.dumps(row), flush=True)
            if best is None or scores["score"] > best[0]:
                state = {k: v.detach().clone() for k, v in network.state_dict().items()}
                best = (scores["score"], epoch, state, scores)
            elif epoch - best[1] >= settings.patience:
                break
    finally:
        if log:
            log.close()
    network.load_state_dict(best[2])
    network.eval()
    return PostTrainResult(best[1], best[0], best[3], history, time.perf_counter() - started)


def post_settings(config) -> PostTrainSettings:
    """The ``[training]`` settings of a posts config that :class:`PostTrainSettings` knows."""
    values = {name: lookup(config, key) for name, key in POST_KEYS.items() if has_key(config, key)}
    return checked_dataclass(PostTrainSettings, values, "training", POST_KEYS)


def _plain(scores: Mapping[str, Any]) -> dict:
    return {k: {m: v for m, v in s.items() if m != "confusion"} if isinstance(s, dict) else s for k, s in scores.items()}


def train_posts_from_config(config_path: str | Path, out: str | Path, overrides: Mapping[str, Any] | None = None,
                            train: Path | None = None, dev: Path | None = None, test: Path | None = None,
                            progress: bool = True) -> tuple[PostTrainResult, dict]:
    """Build the pipeline of ``config_path`` (its ``knbc_post_classifier`` component), train it on the
    KNBC articles of the shipped split (or on the user's ``train`` / ``dev`` / ``test`` JSONL posts),
    save the pipeline to ``out`` with ``metrics.json`` and ``train_log.jsonl``."""
    import spacy
    from confection import ConfigValidationError

    from pipeline.corpus import shipped_corpus
    from pipeline.corpus.splits import load_splits
    from pipeline.loading import save_pipeline

    overrides = dict(overrides or {})
    config = read_config(config_path, overrides)
    try:
        nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    except ConfigValidationError as err:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors) or err.title
        raise UsageError(f"{config_path}: {errors}") from None
    names = [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory == "knbc_post_classifier"]
    if len(names) != 1:
        raise UsageError(f"{config_path}: the pipeline needs exactly one knbc_post_classifier, found {names}")
    component = names[0]
    settings = post_settings(config)
    if train is None:
        corpus, splits = shipped_corpus(), load_splits()
        parts = [knbc_post_examples(nlp, splits.select(corpus.sentences, s)) for s in ("train", "dev", "test")]
        themes, data = list(THEME_LABELS), {"source": "KNBC v1.0 articles, shipped article split"}
    else:
        if dev is None:
            raise DataError("--train needs a --dev file too (early stopping selects the best epoch on it)")
        parts = [user_post_examples(nlp, Path(p), component) if p else [] for p in (train, dev, test)]
        themes = sorted({e.label for e in parts[0]})
        if len(themes) < 2:
            raise DataError(f"{train}: a classifier needs at least two labels to learn, the training data has {themes}")
        unknown = sorted({e.label for e in parts[1] + parts[2]} - set(themes))
        if unknown:
            raise DataError(f"{dev if test is None else f'{dev} / {test}'}: labels {unknown} are not in the training data")
        data = {"source": "user posts", "train": str(train), "dev": str(dev), "test": str(test) if test else None}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = nlp.get_pipe(component)
    result = train_post_classifier(pipe, parts[0], parts[1], settings, themes, log_path=out / "train_log.jsonl",
                                   progress=progress)
    test_scores = post_scores(pipe, parts[2], [pipe.features(e.doc)[1] for e in parts[2]]) if parts[2] else {}
    metrics = {
        "component": component,
        "labels": {"themes": pipe.themes, "sentiments": pipe.sentiments},
        "data": {**data, "n_train": len(parts[0]), "n_dev": len(parts[1]), "n_test": len(parts[2])},
        "settings": asdict(settings),
        **provenance(config_path, config, overrides, POST_KEYS),
        "model": asdict(pipe.options),
        "best_epoch": result.best_epoch,
        "train_seconds": round(result.seconds, 1),
        "dev": _plain(result.dev_scores),
        "test": _plain(test_scores),
        "history": result.history,
    }
    save_pipeline(nlp, out, task="posts", component=component)
    (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    if not math.isfinite(result.best_score):
        raise DataError(f"{out}: training gave no finite dev score")
    return result, metrics
