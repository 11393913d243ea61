"""spaCy components and registered architectures wrapping the torch networks of ``pipeline.nn``.

Importing this registers the factories and architectures and nothing else: worker processes get torch on
one thread from the components themselves (:func:`pipeline.components.workers.one_thread_in_workers`)."""

from pipeline.components.generator import GeneratorComponent, make_knbc_generator
from pipeline.components.tagger import SpanTagger, make_knbc_tagger
from pipeline.components.textcat import RecurrentTextCategorizer, make_knbc_textcat
from pipeline.components.vectors import VectorHooks, make_knbc_vectors

__all__ = ["GeneratorComponent", "RecurrentTextCategorizer", "SpanTagger", "VectorHooks", "make_knbc_generator",
           "make_knbc_tagger", "make_knbc_textcat", "make_knbc_vectors"]

