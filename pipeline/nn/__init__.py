"""Plain torch modules; no spaCy inside.

They take the tensors :mod:`pipeline.features` makes from GiNZA Docs (vector rows, token ids,
lengths, masks) and know nothing of spaCy, so they can be tested and trained on their own.
"""

from pipeline.nn.embedding import StaticPlusTrainableEmbedding

__all__ = ["StaticPlusTrainableEmbedding"]
