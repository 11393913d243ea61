"""spaCy components and registered architectures wrapping the torch networks of ``pipeline.nn``.

Importing this registers the factories and architectures and nothing else: worker processes get torch on
one thread from the components themselves (:func:`pipeline.components.workers.one_thread_in_workers`)."""

from pipeline.components.generator import GeneratorComponent, make_knbc_generator
from pipeline.components.posts import PostClassifier, make_knbc_post_classifier
from pipeline.components.sentences import SentenceSplitter, make_knbc_sentences
from pipeline.components.tagger import SpanTagger, make_knbc_tagger
from pipeline.components.textcat import RecurrentTextCategorizer, make_knbc_textcat
from pipeline.components.vectors import VectorHooks, make_knbc_vectors

__all__ = ["GeneratorComponent", "PostClassifier", "RecurrentTextCategorizer", "SentenceSplitter", "SpanTagger",
           "VectorHooks", "make_knbc_generator", "make_knbc_post_classifier", "make_knbc_sentences",
           "make_knbc_tagger", "make_knbc_textcat", "make_knbc_vectors"]

