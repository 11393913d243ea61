"""Between the torch networks and spaCy: features (Docs -> tensors), vocabularies, option classes and
builders, the generators behind one interface, and the pretrained language model, each with one save/load."""
