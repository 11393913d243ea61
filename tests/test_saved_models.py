"""Every model under models/ still loads and predicts what it predicted before the redesign
(tests/data/predictions_before_redesign.json, written by the code of commit 54368b3); a classifier
retrained since predicts what it did when it was retrained (tests/data/predictions_sentiment_recipe.json, and
tests/data/predictions_keywords_pretrained.json for the keywords generator)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import spacy

from pipeline.ginza import blank_japanese
from pipeline.models.generator import Decoding, load_generator

ROOT = Path(__file__).resolve().parents[1]
BEFORE = json.loads((ROOT / "tests/data/predictions_before_redesign.json").read_text(encoding="utf-8"))
# classifiers retrained after the redesign (models/sentiment: the recipe of issue 12), their labels and what they
# predicted when retrained
RETRAINED = json.loads((ROOT / "tests/data/predictions_sentiment_recipe.json").read_text(encoding="utf-8"))
RETRAINED_LABELS = set(RETRAINED["cats"][0])
# generators retrained after the redesign (models/generator-keywords: started from the pretrained LM) and what they
# generated when retrained, decoded as the other generators are below
RETRAINED_GENERATORS = {"generator-keywords": json.loads(
    (ROOT / "tests/data/predictions_keywords_pretrained.json").read_text(encoding="utf-8"))["generated"]}


def _without_repetition_block(path: Path) -> dict:
    """Config overrides that decode as before the redesign: the repetition block (a later default) off."""
    components = spacy.util.load_config(path / "config.cfg", interpolate=False)["components"]
    return {f"components.{name}.no_repeat_ngram": 0 for name, settings in components.items()
            if settings.get("factory") == "knbc_generator"}


# pipelines whose generator was replaced after the redesign: their classifiers are compared, their generator
# is checked against the generator folder it now comes from
REPLACED_GENERATORS = {"knbc": ("generator_continuation", "generator-continuation-pretrained"),
                       "knbc-keywords": ("generator_keywords", "generator-keywords")}


@pytest.mark.parametrize("name", sorted(BEFORE["pipelines"]))
def test_a_saved_pipeline_predicts_what_it_did_before_the_redesign(name):
    nlp = spacy.load(ROOT / "models" / name, config=_without_repetition_block(ROOT / "models" / name))
    for doc, before in zip(nlp.pipe(BEFORE["sentences"]), BEFORE["pipelines"][name], strict=True):
        kept = {k: v for k, v in before["cats"].items() if k not in RETRAINED_LABELS}
        assert {k: v for k, v in doc.cats.items() if k in kept} == pytest.approx(kept, abs=2e-6)
        if name not in REPLACED_GENERATORS:
            assert (doc._.generated if doc.has_extension("generated") else None) == before["generated"]


@pytest.mark.parametrize("name", ["sentiment", "knbc"])
def test_the_retrained_sentiment_classifier_predicts_what_it_did_when_retrained(name):
    assert RETRAINED["sentences"] == BEFORE["sentences"]
    nlp = spacy.load(ROOT / "models" / name, config=_without_repetition_block(ROOT / "models" / name))
    for doc, cats in zip(nlp.pipe(RETRAINED["sentences"]), RETRAINED["cats"], strict=True):
        assert {k: v for k, v in doc.cats.items() if k in RETRAINED_LABELS} == pytest.approx(cats, abs=2e-6)


@pytest.mark.parametrize("name", sorted(REPLACED_GENERATORS))
def test_a_pipeline_generates_with_its_generator_folder_and_the_decoding_tuned_for_it(name):
    from pipeline.ginza import ginza_vectors_tensor

    component, folder = REPLACED_GENERATORS[name]
    nlp = spacy.load(ROOT / "models" / name)
    generator = load_generator(ROOT / "models" / folder, ginza_vectors_tensor)
    assert generator.decoding is not None and nlp.get_pipe(component).decoding == generator.decoding
    tokenizer = blank_japanese().tokenizer
    for sentence in BEFORE["sentences"][:2]:
        source = generator.source_for(tokenizer(sentence))
        assert nlp(sentence)._.generated == generator.generate(source, generator.decoding).new_text


@pytest.mark.parametrize("name", sorted(BEFORE["generators"]))
def test_a_saved_generator_generates_what_it_did_before_the_redesign_or_when_retrained(name):
    generator = load_generator(ROOT / "models" / name)
    tokenizer = blank_japanese().tokenizer
    expected = RETRAINED_GENERATORS.get(name, BEFORE["generators"][name])
    for sentence, before in zip(BEFORE["sentences"], expected):
        tokens = [t.text for t in tokenizer(sentence)]
        if name == "lm":
            out = generator.generate(tokens[:3], theme="京都観光", decoding=Decoding(method="greedy", max_length=20))
        else:
            out = generator.generate(tokens, decoding=Decoding(method="beam", beam_size=4, max_length=30))
        assert out.text == before


def test_the_shipped_keywords_pipeline_blocks_repeated_bigrams_by_default():
    nlp = spacy.load(ROOT / "models" / "knbc-keywords")
    before = spacy.load(ROOT / "models" / "knbc-keywords", config=_without_repetition_block(ROOT / "models" / "knbc-keywords"))
    text = "携帯 電話 電池 充電"  # (the keywords model from scratch repeated itself on 携帯 電池 切れる)
    tokens = nlp(text)._.attention["target"]
    bigrams = list(zip(tokens, tokens[1:]))
    assert len(bigrams) == len(set(bigrams)), tokens
    assert before(text)._.generated != nlp(text)._.generated  # the unblocked model repeats itself here
