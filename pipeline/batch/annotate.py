"""What ``knbc process`` computes for one chunk of documents, in whichever process runs it.

Each process (the main one, a local worker, a Dask worker) loads the pipeline once, on its first
chunk, and keeps it. A chunk is annotated with ``nlp.pipe``; if that fails, its documents are
annotated one by one so that only the documents that fail become error rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

SCORE_DIGITS = 6
POST_FACTORY = "knbc_post_classifier"


@dataclass(frozen=True)
class AnnotateOptions:
    """What to run and what to write: the pipeline folder, which of its classifiers (None: all; an empty
    tuple: the tokenizer alone), tokens/lemmas/POS, generated text, the span taggers' spans (a column per
    tagger: ``[{"start", "end", "label", "text"}]``, character offsets), and torch threads per process.

    One torch thread per process is the default: these small recurrent networks gain little from
    intra-op threads (and lose much when another process competes for the cores), and every engine
    then computes the same floating-point results, so outputs are identical across engines."""

    model: str
    classifiers: Optional[tuple[str, ...]] = None
    tokens: bool = False
    generate: bool = False
    spans: bool = False
    batch_size: int = 64
    torch_threads: int = 1
    documents: bool = False  # each record is a post: the pipeline's knbc_post_classifier labels it and its sentences
    sentences: bool = False  # with documents: also one row per sentence


_LOADED: dict[AnnotateOptions, tuple] = {}


def loaded_pipeline(options: AnnotateOptions):
    """``(nlp, {classifier name: its labels}, generator name or None, {tagger name: spans_key})`` for ``options``,
    loaded once per process."""
    if options not in _LOADED:
        import torch

        from pipeline.loading import classifier_names, generator_names, load, tagger_names

        torch.set_num_threads(options.torch_threads)  # explicitly, in every process that runs chunks
        nlp = load(options.model, torch_threads=options.torch_threads)  # load() would set its own default
        if options.documents:
            _LOADED[options] = _documents_pipeline(nlp)
            return _LOADED[options]
        classifiers = {name: tuple(nlp.get_pipe(name).labels) for name in classifier_names(nlp)
                       if options.classifiers is None or name in options.classifiers}
        generators = generator_names(nlp)
        generator = generators[0] if options.generate and generators else None
        taggers = {name: nlp.get_pipe(name).spans_key for name in tagger_names(nlp)} if options.spans else {}
        enabled = list(classifiers) + list(taggers) + ([generator] if generator else [])
        nlp.select_pipes(enable=enabled)
        _LOADED[options] = (nlp, classifiers, generator, taggers)
    return _LOADED[options]


def _documents_pipeline(nlp):
    """``(nlp, {post classifier name: its themes}, None, {})``: the components before the post classifier that
    are neither classifiers nor generators (e.g. a sentence splitter) and the post classifier run."""
    from pipeline.loading import GENERATOR_FACTORY, is_classifier_factory

    post = next(name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory == POST_FACTORY)
    enabled = []
    for name in nlp.pipe_names:
        factory = nlp.get_pipe_meta(name).factory
        if name == post:
            break
        if not is_classifier_factory(factory) and factory != GENERATOR_FACTORY:
            enabled.append(name)
    nlp.select_pipes(enable=[*enabled, post])
    return nlp, {post: tuple(nlp.get_pipe(post).labels)}, None, {}


def forget_pipelines() -> None:
    """Drop the pipelines loaded in this process (the next chunk loads its pipeline again)."""
    _LOADED.clear()


def check_options(options: AnnotateOptions) -> None:
    """Check, from the model folder's config and without loading it, that the pipeline has what
    ``options`` ask for; raise :class:`~pipeline.errors.ModelError` saying what is missing."""
    from spacy.util import load_config

    from pipeline.errors import ModelError
    from pipeline.loading import GENERATOR_FACTORY, TAGGER_FACTORY, check_model_dir, is_classifier_factory

    meta = check_model_dir(options.model)
    components = load_config(Path(options.model) / "config.cfg")["components"]
    factories = {name: components[name]["factory"] for name in meta["pipeline"]}
    classifiers = [name for name, factory in factories.items() if is_classifier_factory(factory)]
    if options.classifiers:
        missing = sorted(set(options.classifiers) - set(classifiers))
        if missing:
            raise ModelError(f"{options.model} has no classifier(s) {missing}; it has {classifiers}")
    if options.documents and POST_FACTORY not in factories.values():
        raise ModelError(f"{options.model} has no {POST_FACTORY} component, which --documents needs; use a pipeline "
                         "with one (e.g. models/posts)")
    if options.sentences and not options.documents:
        raise ModelError("--sentences writes the sentences of posts: it needs --documents")
    if options.spans and TAGGER_FACTORY not in factories.values():
        raise ModelError(f"{options.model} has no span tagger (knbc_tagger); leave out --spans or use a pipeline "
                         "with one (e.g. models/ner)")
    if options.spans and options.documents:
        raise ModelError("--spans writes the spans of each document's text; it does not combine with --documents")
    if options.generate and GENERATOR_FACTORY not in factories.values():
        raise ModelError(f"{options.model} has no generator component; leave out --generate or use a pipeline "
                         "with one (e.g. models/knbc)")


def annotate_chunk(options: AnnotateOptions, texts: list[str]) -> list[dict]:
    """One result per text: ``{"ok": {...columns}}`` or ``{"error": reason}``."""
    nlp, classifiers, generator, taggers = loaded_pipeline(options)
    if options.documents:
        return _annotate_posts(nlp, texts, classifiers, options)
    try:
        docs = nlp.pipe(texts, batch_size=options.batch_size)
        return [{"ok": _columns(doc, classifiers, generator, taggers, options)} for doc in docs]
    except Exception:  # noqa: BLE001 - find the documents that fail, one by one
        return [_annotate_one(nlp, text, classifiers, generator, taggers, options) for text in texts]


def _annotate_one(nlp, text: str, classifiers: dict, generator, taggers: dict, options: AnnotateOptions) -> dict:
    try:
        return {"ok": _columns(nlp(text), classifiers, generator, taggers, options)}
    except Exception as err:  # noqa: BLE001 - reported in the errors file, the run goes on
        return {"error": f"the pipeline failed on this document: {type(err).__name__}: {err}"}


def _columns(doc, classifiers: dict, generator, taggers: dict, options: AnnotateOptions) -> dict:
    columns: dict = {"n_tokens": len(doc)}
    for name, labels in classifiers.items():
        best = max(labels, key=lambda label: doc.cats[label])
        columns[name] = best
        columns[f"{name}_score"] = round(doc.cats[best], SCORE_DIGITS)
    for labels in classifiers.values():
        for label in labels:
            columns[f"score_{label}"] = round(doc.cats[label], SCORE_DIGITS)
    if options.tokens:
        columns["tokens"] = [t.text for t in doc]
        columns["lemmas"] = [t.lemma_ for t in doc]
        columns["pos"] = [t.pos_ for t in doc]
    if taggers:
        from pipeline.loading import doc_spans

        columns.update(doc_spans(doc, taggers))
    if generator:
        columns["generated"] = doc._.generated
    return columns


def _annotate_posts(nlp, texts: list[str], classifiers: dict, options: AnnotateOptions) -> list[dict]:
    """``--documents``: each text is a post. Its sentences come from a sentence splitter in the pipeline,
    else from the simple rule of :func:`pipeline.models.posts.simple_sentence_starts` (after 。！？!? and
    line breaks); a post that fails becomes one error, the others go on."""
    (post,) = classifiers
    try:
        return [_post_columns(doc, post, classifiers[post], options) for doc in _post_docs(nlp, post, texts, options)]
    except Exception:  # noqa: BLE001 - find the documents that fail, one by one
        results = []
        for text in texts:
            try:
                results.append(_post_columns(next(_post_docs(nlp, post, [text], options)), post, classifiers[post], options))
            except Exception as err:  # noqa: BLE001 - reported in the errors file, the run goes on
                results.append({"error": f"the pipeline failed on this document: {type(err).__name__}: {err}"})
        return results


def _post_docs(nlp, post: str, texts: list[str], options: AnnotateOptions):
    from pipeline.models.posts import simple_sentence_starts

    with nlp.select_pipes(disable=[post]):
        docs = (simple_sentence_starts(doc) for doc in nlp.pipe(texts, batch_size=options.batch_size))
        yield from nlp.get_pipe(post).pipe(docs, batch_size=options.batch_size)


def _post_columns(doc, post: str, labels: tuple, options: AnnotateOptions) -> dict:
    sentences = doc._.post_sentences
    columns: dict = {"level": "post", "n_tokens": len(doc), "n_sentences": len(sentences)}
    best = max(labels, key=lambda label: doc.cats[label])
    columns["theme"] = best
    columns["theme_score"] = round(doc.cats[best], SCORE_DIGITS)
    for label in labels:
        columns[f"score_{label}"] = round(doc.cats[label], SCORE_DIGITS)
    if options.tokens:
        columns["tokens"] = [t.text for t in doc]
        columns["lemmas"] = [t.lemma_ for t in doc]
        columns["pos"] = [t.pos_ for t in doc]
    result: dict = {"ok": columns}
    if options.sentences:
        rows = []
        for index, span in enumerate(sentences):
            cats = span._.cats
            themes = {label: cats[label] for label in labels}
            sentiments = {label: p for label, p in cats.items() if label not in themes}
            theme = max(themes, key=themes.get)
            sentiment = max(sentiments, key=sentiments.get)
            rows.append({"level": "sentence", "sentence_index": index, "text": span.text, "start_char": span.start_char,
                         "end_char": span.end_char, "n_tokens": len(span), "theme": theme,
                         "theme_score": round(themes[theme], SCORE_DIGITS), "sentiment": sentiment,
                         "sentiment_score": round(sentiments[sentiment], SCORE_DIGITS),
                         "attention": round(span._.attention, SCORE_DIGITS)})
        result["sentences"] = rows
    return result
