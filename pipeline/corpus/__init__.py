"""Reading the KNB corpus: KNP analyses (corpus1), 評判 annotations (corpus2), joined records."""

from pipeline.corpus.labels import SENTIMENTS, THEMES
from pipeline.corpus.records import (
    Corpus,
    CorpusReport,
    SentenceRecord,
    load_corpus,
    shipped_corpus,
)

__all__ = ["SENTIMENTS", "THEMES", "Corpus", "CorpusReport", "SentenceRecord", "load_corpus", "shipped_corpus"]
