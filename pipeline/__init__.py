"""knbc-pipeline: GiNZA tokenization and recurrent networks on the KNB corpus, as spaCy components."""

__version__ = "0.1.0"
