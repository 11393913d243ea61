# Two commands for a fresh machine: `make demo` (the main job) and `make test` (the test suite).
# Each creates its own virtual environment in .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
KNBC := $(VENV)/bin/knbc
STAMP := $(VENV)/.installed
OUT ?= out
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup browser demo test models pretrain evaluate-lm evaluate evaluate-generation evaluate-splitter evaluate-posts \
	evaluate-taggers benchmark report clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU wheel first: a plain `torch` requirement would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

# the main job: the corpus checked and exported, the trained pipeline on a few sentences (classes, spans, text), then over the
# whole exported corpus with `knbc process` (labels and scores per sentence; empty titles to the errors file)
demo: setup
	$(KNBC) corpus stats
	$(KNBC) corpus export --format parquet --out $(OUT)/knbc.parquet --overwrite
	$(KNBC) corpus export --format spacy --out $(OUT)/docbin --overwrite
	$(KNBC) classify "京都の紅葉がきれいでした。" "このケータイは電池がすぐ切れて困る。" "このラーメン屋のスープは絶品だ。" "昨日のサッカーの試合は最高だった！"
	$(KNBC) tag "京都の清水寺に行った。紅葉がとてもきれいでした。" "このケータイは電池がすぐ切れて困る。"
	$(KNBC) generate "京都 紅葉 きれい" "ラーメン スープ おいしい" "携帯 電池 切れる"
	$(KNBC) process $(OUT)/knbc.parquet --out $(OUT)/knbc-labels.parquet --overwrite

# headless Chromium (and CJK fonts) for the test that opens the HTML report; Debian packages
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		( $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver fonts-noto-cjk )

test: setup browser
	$(PY) -m pytest -q

# retrain everything shipped under models/: the classifiers, the post classifier and the taggers (about
# 5-10 minutes each on 2 cores), the generators (each at most 15 minutes), then the assembled pipelines
# (models/generator-continuation-pretrained comes from `make evaluate-lm`, after `make pretrain`; models/generator-keywords
# starts from models/livedoor-lm, which `make pretrain` makes)
models: setup
	$(KNBC) train models/configs/theme.cfg --out models/theme --quiet
	$(KNBC) train models/configs/sentiment.cfg --out models/sentiment --quiet
	$(KNBC) train-posts models/configs/posts.cfg --out models/posts --quiet
	$(KNBC) train models/configs/ner.cfg --out models/ner --quiet
	$(KNBC) train models/configs/reputation.cfg --out models/reputation --quiet
	$(KNBC) train-generator models/configs/generator-keywords-pretrained.cfg --out models/generator-keywords --quiet
	$(KNBC) train-generator models/configs/generator-keywords-noattn.cfg --out models/generator-keywords-noattn --quiet
	$(KNBC) train-generator models/configs/generator-continuation.cfg --out models/generator-continuation --quiet
	$(KNBC) train-generator models/configs/lm.cfg --out models/lm --quiet
	$(KNBC) assemble models/theme models/sentiment models/posts models/ner models/reputation \
		models/generator-continuation-pretrained --out models/knbc --link
	$(KNBC) assemble models/generator-keywords --out models/knbc-keywords --link

evaluate-generation: setup
	$(KNBC) evaluate-generation --out reports/generation

# the bidirectional LM on the livedoor news text (4 passes; about 70 minutes on 2 cores), resumable: its
# checkpoints go to CHECKPOINTS, outside the repository, and a rerun continues where it stopped
CHECKPOINTS ?= ../knbc-checkpoints/livedoor-lm
pretrain: setup
	$(KNBC) pretrain --checkpoints $(CHECKPOINTS) --out models/livedoor-lm --epochs 4 --quiet

# KNBC perplexity of the pretrained LM (as it is, fine-tuned, the same network on KNBC alone, Kneser-Ney)
# and the fine-tuned LM as a continuation generator against the Seq2Seq model and retrieval
evaluate-lm: setup
	$(KNBC) evaluate-lm --pretrained models/livedoor-lm --save-generator models/generator-continuation-pretrained --out reports/language-models --quiet

# every comparison in reports/ (one thread each: 23-39 minutes per comparison here, about two hours in all)
evaluate: setup
	for task in theme sentiment; do for protocol in cv5 peer; do \
		$(KNBC) evaluate --task $$task --protocol $$protocol --out reports/$$task-$$protocol || exit 1; done; done

# the sentence splitter (knbc_sentences) against KNBC's sentence boundaries of the 249 whole articles,
# joined with a line break and with nothing: boundary P/R/F1, errors by kind, speed (a few minutes)
evaluate-splitter: setup
	$(KNBC) evaluate-splitter --out reports/sentences

# the hierarchical attention post classifier against the naive vote and whole-post baselines on the
# article-grouped 5-fold CV, in one run (46 minutes on 2 shared cores); reads reports/sentiment-cv5
evaluate-posts: setup
	$(KNBC) evaluate-posts --out reports/posts

# the BiLSTM-CRF NE and 評判 taggers against the softmax ablation, spaCy's ner / spancat (5 epochs) and
# GiNZA's zero-shot NER on the shipped split: what made the committed reports/taggers (over 75 minutes
# here; each system's predictions are cached in reports/taggers/cache, so a rerun resumes)
evaluate-taggers: setup
	$(KNBC) evaluate-taggers --protocol cv5 --runs 1 --spacy-max-epochs 5 --out reports/taggers

benchmark: setup
	$(KNBC) benchmark --busy --out reports/benchmark.json
	$(KNBC) benchmark --generator models/generator-keywords --out reports/benchmark-generation.json
	$(KNBC) benchmark --process --out reports/benchmark-process.json

# the combined report from everything saved in reports/ (no retraining): reports/index.html, reports/README.md
report: setup
	$(KNBC) report --reports reports

clean:
	rm -rf $(VENV) $(OUT)
