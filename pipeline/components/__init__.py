"""spaCy components and registered architectures wrapping the torch networks of ``pipeline.nn``."""

from pipeline.components.generator import GeneratorComponent, make_knbc_generator
from pipeline.components.textcat import RecurrentTextCategorizer, make_knbc_textcat

__all__ = ["GeneratorComponent", "RecurrentTextCategorizer", "make_knbc_generator", "make_knbc_textcat"]
