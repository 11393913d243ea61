"""Shared fixtures: the shipped corpus and GiNZA are loaded once per test session."""

import pytest


@pytest.fixture(scope="session")
def corpus():
    from pipeline.corpus import shipped_corpus

    return shipped_corpus()


@pytest.fixture(scope="session")
def sentences_by_id(corpus):
    return {s.sid: s for s in corpus.sentences}


@pytest.fixture(scope="session")
def ginza():
    from pipeline.ginza import load_ginza

    return load_ginza()
