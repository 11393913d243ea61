"""spaCy components and registered architectures wrapping the torch networks of ``pipeline.nn``."""

from pipeline.components.textcat import RecurrentTextCategorizer, make_knbc_textcat

__all__ = ["RecurrentTextCategorizer", "make_knbc_textcat"]
