"""The registry of artefacts the report shows: every evaluation, benchmark, generation report, the
language-model, sentence-splitter, post-classifier and span-tagger evaluations, and every model folder, with its path, the command that makes it, and the Makefile target and ``project.yml`` step that
run that command (a test keeps the three in step).

Paths and commands are templates over ``{reports}`` and ``{models}`` (the folders the report reads).
Model folders with a ``train_log.jsonl`` that the registry lacks are found on disk
(:func:`model_folders`), and so are evaluation folders and benchmark files (:func:`evaluations`,
:func:`benchmarks`): a new artefact reaches the report without editing it; registering it adds its
title and the command named when it is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.evaluation.results import RESULTS_CSV

TRAIN_LOG = "train_log.jsonl"
EVALUATION, GENERATION, BENCHMARK, MODEL = "evaluation", "generation", "benchmark", "model"
LANGUAGE_MODELS = "language-models"
SENTENCES, POSTS, TAGGERS = "sentences", "posts", "taggers"
TASK_TITLES = {"theme": "テーマ分類 / theme classification", "sentiment": "評判極性 / sentiment classification"}


@dataclass(frozen=True)
class Artefact:
    """One file or folder the report reads. ``name``: its file or folder name; ``title``: what it is, for
    people; ``group``: for models, the learning-curve figure it is drawn in (``classifiers`` or
    ``generators``); ``task`` and ``protocol``: for evaluations."""

    kind: str
    name: str
    path: str  # template over {reports} / {models}
    title: str = ""
    command: str | None = None  # template; None for artefacts found on disk but not registered
    make_target: str | None = None
    project_step: str | None = None
    group: str | None = None
    task: str | None = None
    protocol: str | None = None

    def location(self, reports: str | Path = "reports", models: str | Path = "models") -> Path:
        return Path(self.path.format(reports=Path(reports).as_posix(), models=Path(models).as_posix()))

    def make_command(self, reports: str | Path = "reports", models: str | Path = "models") -> str | None:
        """The command that makes this artefact, its paths under ``reports`` / ``models``."""
        if self.command is None:
            return None
        return self.command.format(reports=Path(reports).as_posix(), models=Path(models).as_posix())

    def how_to_make(self, reports: str | Path = "reports", models: str | Path = "models") -> str:
        """A sentence (inline Markdown) naming the command, the make target and the project step."""
        command = self.make_command(reports, models)
        if command is None:
            return "nothing in the registry makes it (`pipeline/report/registry.py`)."
        also = [f"`make {self.make_target}`" if self.make_target else "",
                f"`weasel run {self.project_step}`" if self.project_step else ""]
        also = [a for a in also if a]
        return f"`{command}` makes it" + (f" (also run by {' and '.join(also)})." if also else ".")


def _evaluation(task: str, protocol: str) -> Artefact:
    name = f"{task}-{protocol}"
    return Artefact(EVALUATION, name, f"{{reports}}/{name}", f"{TASK_TITLES[task]} — {protocol}",
                    f"knbc evaluate --task {task} --protocol {protocol} --out {{reports}}/{name}",
                    "evaluate", "evaluate", task=task, protocol=protocol)


def _benchmark(name: str, title: str, options: str) -> Artefact:
    return Artefact(BENCHMARK, name, f"{{reports}}/{name}", title, f"knbc benchmark {options} --out {{reports}}/{name}",
                    "benchmark", "benchmark")


def _model(name: str, title: str, group: str, command: str, options: str = "--quiet") -> Artefact:
    """A model folder trained by ``command`` (options that follow ``--out`` as the Makefile writes them)."""
    step = "train-classifiers" if group == "classifiers" else "train-generators"
    return Artefact(MODEL, name, f"{{models}}/{name}", title, f"{command} --out {{models}}/{name} {options}",
                    "models", step, group=group)


_GENERATOR = "knbc train-generator models/configs/{}.cfg"
ARTEFACTS: tuple[Artefact, ...] = (
    *(_evaluation(task, protocol) for task in TASK_TITLES for protocol in ("cv5", "peer")),
    Artefact(GENERATION, "generation", "{reports}/generation", "文生成 / generation",
             "knbc evaluate-generation --out {reports}/generation", "evaluate-generation", "evaluate"),
    Artefact(LANGUAGE_MODELS, "language-models", "{reports}/language-models",
             "言語モデルの事前学習 / pretrained language model",
             "knbc evaluate-lm --pretrained models/livedoor-lm --save-generator models/generator-continuation-pretrained "
             "--out {reports}/language-models --quiet", "evaluate-lm", "evaluate-lm"),
    Artefact(SENTENCES, "sentences", "{reports}/sentences", "文分割 / sentence splitter",
             "knbc evaluate-splitter --out {reports}/sentences", "evaluate-splitter", "evaluate-splitter"),
    Artefact(POSTS, "posts", "{reports}/posts", "投稿分類 / post classifier (hierarchical attention)",
             "knbc evaluate-posts --out {reports}/posts", "evaluate-posts", "evaluate-posts"),
    # the committed reports/taggers: the first fold of the article-grouped 5-fold CV (all five did not fit the
    # machine's time), spaCy's baselines trained up to 5 epochs (results.json records protocol and runs)
    Artefact(TAGGERS, "taggers", "{reports}/taggers", "固有表現と評判のタグ付け / span taggers (NE, 評判)",
             "knbc evaluate-taggers --protocol cv5 --runs 1 --spacy-max-epochs 5 --out {reports}/taggers",
             "evaluate-taggers", "evaluate-taggers"),
    _benchmark("benchmark.json", "classification pipeline speed and memory", "--busy"),
    _benchmark("benchmark-generation.json", "generation decoding speed", "--generator models/generator-keywords"),
    _benchmark("benchmark-process.json", "batch processing (`knbc process`) throughput", "--process"),
    _model("theme", "テーマ分類 / theme", "classifiers", "knbc train models/configs/theme.cfg"),
    _model("sentiment", "評判極性 / sentiment", "classifiers", "knbc train models/configs/sentiment.cfg"),
    _model("posts", "投稿のテーマ / whole posts (HAN)", "classifiers", "knbc train-posts models/configs/posts.cfg"),
    _model("ner", "固有表現 / named entities (BiLSTM-CRF)", "classifiers", "knbc train models/configs/ner.cfg"),
    _model("reputation", "評判表現 / 評判 expressions (BiLSTM-CRF)", "classifiers",
           "knbc train models/configs/reputation.cfg"),
    _model("generator-keywords", "キーワード→文 / keywords → sentence (from the pretrained LM)", "generators",
           "knbc train-generator models/configs/generator-keywords-pretrained.cfg"),
    *(_model(name, title, "generators", _GENERATOR.format(name)) for name, title in (
        ("generator-keywords-noattn", "キーワード→文, 注意なし / no attention"),
        ("generator-continuation", "続きの文 / continuation"),
        ("lm", "言語モデル / LSTM LM"),
    )),
)


def registered(kind: str) -> list[Artefact]:
    """The registered artefacts of one kind, in the report's order."""
    return [a for a in ARTEFACTS if a.kind == kind]


def evaluations(reports: str | Path) -> list[Artefact]:
    """The registered comparisons, then any other folder under ``reports`` with a results table."""
    known = registered(EVALUATION)
    names = {a.name for a in known}
    found = sorted(p.parent.name for p in Path(reports).glob(f"*/{RESULTS_CSV}") if p.parent.name not in names)
    return known + [Artefact(EVALUATION, name, f"{{reports}}/{name}", name) for name in found]


def benchmarks(reports: str | Path) -> list[Artefact]:
    """The registered benchmarks, then any other ``benchmark*.json`` under ``reports``."""
    known = registered(BENCHMARK)
    names = {a.name for a in known}
    found = sorted(p.name for p in Path(reports).glob("benchmark*.json") if p.name not in names)
    return known + [Artefact(BENCHMARK, name, f"{{reports}}/{name}") for name in found]


def model_folders(models: str | Path) -> list[Artefact]:
    """The registered model folders, then any other folder under ``models`` with a ``train_log.jsonl``
    (its group left to the reader: a generator when its log has a dev perplexity)."""
    known = registered(MODEL)
    names = {a.name for a in known}
    found = sorted(p.parent.name for p in Path(models).glob(f"*/{TRAIN_LOG}") if p.parent.name not in names)
    return known + [Artefact(MODEL, name, f"{{models}}/{name}", name) for name in found]


def generation() -> Artefact:
    return registered(GENERATION)[0]


def language_models() -> Artefact:
    return registered(LANGUAGE_MODELS)[0]


def sentences() -> Artefact:
    return registered(SENTENCES)[0]


def posts() -> Artefact:
    return registered(POSTS)[0]


def taggers() -> Artefact:
    return registered(TAGGERS)[0]
