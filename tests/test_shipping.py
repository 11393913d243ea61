"""What the repository and the built package ship: one copy of each model, pipelines assembled by
reference, and shipped data found in a checkout or in an installed package."""

import ast
import hashlib
import os
import shutil
from collections import defaultdict
from pathlib import Path

import spacy

import pipeline.resources as resources
from pipeline.training.train import assemble

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
SENTENCE = "このラーメン屋のスープは絶品だ。"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_repository_holds_one_copy_of_each_weights_file():
    copies = defaultdict(list)
    for dirpath, _, filenames in os.walk(MODELS):  # os.walk does not follow the symlinks of assembled pipelines
        for name in filenames:
            path = Path(dirpath) / name
            if path.stat().st_size > 1_000_000:
                copies[_sha(path)].append(str(path.relative_to(ROOT)))
    assert copies, "no weights found under models/"
    assert not [paths for paths in copies.values() if len(paths) > 1]


def test_the_shipped_pipelines_refer_to_their_sources_and_load():
    for pipe, source in [
        ("knbc/theme", "theme/theme"),
        ("knbc/sentiment", "sentiment/sentiment"),
        ("knbc/posts", "posts/posts"),
        ("knbc/ner", "ner/ner"),
        ("knbc/reputation", "reputation/reputation"),
        ("knbc/generator_continuation", "generator-continuation-pretrained"),
        ("knbc-keywords/generator_keywords", "generator-keywords"),
    ]:
        link = MODELS / pipe
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))  # relative: works in any clone
        assert link.resolve() == (MODELS / source).resolve()


def test_assemble_by_reference_links_the_weights_and_predicts_as_the_source(tmp_path):
    theme = tmp_path / "theme"
    shutil.copytree(MODELS / "theme", theme)
    out = tmp_path / "pipeline"
    assemble([theme], out, link=True)
    assert (out / "theme").is_symlink() and (out / "theme").resolve() == (theme / "theme").resolve()
    assert spacy.load(out)(SENTENCE).cats == spacy.load(theme)(SENTENCE).cats

    before = {p.name: _sha(p) for p in (theme / "theme").iterdir()}
    assemble([theme], out)  # again, copying: the old links are replaced, never written through
    assert not (out / "theme").is_symlink() and (out / "theme" / "model").is_file()
    assert {p.name: _sha(p) for p in (theme / "theme").iterdir()} == before


def test_shipped_data_is_read_from_the_checkout_or_the_installed_copy(tmp_path, monkeypatch):
    assert resources.in_checkout()
    assert resources.shipped_path("models/knbc") == ROOT / "models" / "knbc"

    installed = tmp_path / "site-packages" / "pipeline"
    (installed / "_shipped" / "models" / "knbc").mkdir(parents=True)
    monkeypatch.setattr(resources, "CHECKOUT_DIR", installed.parent)  # no pyproject.toml there
    monkeypatch.setattr(resources, "INSTALLED_DIR", installed / "_shipped")
    assert not resources.in_checkout()
    assert resources.shipped_path("models/knbc") == installed / "_shipped" / "models" / "knbc"
    assert resources.shipped_path("corpora/knbc") == installed.parent / "corpora" / "knbc"  # missing: named as is


def test_the_wheel_ships_what_the_package_looks_for():
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    shipped = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SHIPPED"
    )
    assert tuple(shipped) == resources.SHIPPED
    assert all((ROOT / path).exists() for path in shipped)
