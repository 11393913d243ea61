"""Prediction speed of the NE tagger of models/configs/ner.cfg (knbc.BiLSTMCRFTagger.v1) against
ner-pretrained.cfg (v2: + the livedoor BiLM's layers), one thread, on the first N KNBC sentences.

Weights do not change the speed, so both taggers are freshly initialized from their configs (the IREX labels).
The sentences are tokenized once (GiNZA, split C); the taggers then tag copies of those Docs with
``tagger.pipe`` (batch 256, as nlp.pipe), in turns, the best of ``repeats`` runs counting.

    PYTHONPATH=. nice -n 10 .venv/bin/python reports/taggers/cv5-elmo/tagger_speed.py --n 1000 --out speed.json
"""

import argparse
import json
import time
from pathlib import Path

import spacy
import torch
from spacy.tokens import Doc
from threadpoolctl import threadpool_limits

from pipeline.corpus import shipped_corpus
from pipeline.training.settings import read_config

CONFIGS = Path(__file__).resolve().parents[3] / "models" / "configs"
LABELS = ["ARTIFACT", "DATE", "LOCATION", "MONEY", "OPTIONAL", "ORGANIZATION", "PERCENT", "PERSON", "TIME"]


def build(config_name):
    nlp = spacy.util.load_model_from_config(read_config(CONFIGS / config_name, {}), auto_fill=True, validate=True)
    nlp.get_pipe("ner").initialize(lambda: [], nlp=nlp, labels=LABELS)
    return nlp


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    threadpool_limits(1)
    texts = [s.text for s in shipped_corpus().sentences[: args.n]]
    systems = {"v1 (ner.cfg)": build("ner.cfg"), "v2 + BiLM features (ner-pretrained.cfg)": build("ner-pretrained.cfg")}
    first = next(iter(systems.values()))
    started = time.perf_counter()
    docs = list(first.tokenizer.pipe(texts))
    tokenize_s = time.perf_counter() - started
    data = [doc.to_bytes() for doc in docs]
    best = {name: float("inf") for name in systems}
    for _ in range(args.repeats):
        for name, nlp in systems.items():
            copies = [Doc(nlp.vocab).from_bytes(b) for b in data]
            started = time.perf_counter()
            for _ in nlp.get_pipe("ner").pipe(copies, batch_size=256):
                pass
            best[name] = min(best[name], time.perf_counter() - started)
    n = len(texts)
    results = {"sentences": n, "tokens": sum(len(d) for d in docs), "threads": 1, "tokenizer_s": round(tokenize_s, 2),
               "systems": {name: {"tagger_s": round(s, 2), "tagger_sentences_per_s": round(n / s, 1),
                                  "pipeline_sentences_per_s": round(n / (s + tokenize_s), 1)}
                           for name, s in best.items()}}
    print(json.dumps(results, ensure_ascii=False, indent=1))
    if args.out:
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
