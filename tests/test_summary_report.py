"""The combined evaluation report (``knbc report``): built from a copy of the saved ``reports/``, its numbers
traced back to the saved files, missing inputs named, and the HTML opened in headless Chromium."""

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.report import registry
from pipeline.report.blocks import Document, Notice, Section, Table, Text, render_html, render_markdown
from pipeline.report.build import SUMMARY_HTML, SUMMARY_MD, write_summary
from pipeline.report.inputs import training_history

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
MODELS = ROOT / "models"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory, corpus):
    """The report built from a copy of the repository's reports/ (the repository is left as it is)."""
    if not (REPORTS / "theme-cv5" / "results.csv").is_file():
        pytest.skip("reports/theme-cv5 is not in this checkout")
    reports = tmp_path_factory.mktemp("summary") / "reports"
    shutil.copytree(REPORTS, reports, ignore=shutil.ignore_patterns(SUMMARY_HTML, SUMMARY_MD, "learning_curves"))
    for name in ("report.md", "per_class_f1.png", "confusion_bilstm_attention.png"):
        (reports / "theme-cv5" / name).unlink(missing_ok=True)  # rebuilt by write_summary
    summary = write_summary(reports, MODELS, corpus=corpus)
    return reports, summary


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def _mean_std(results_csv: Path, model: str, column: str) -> str:
    """``mean ± std`` of a column over a model's runs, computed here from the saved CSV."""
    values = pd.read_csv(results_csv).query("model == @model")[column]
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def test_report_gathers_every_saved_result(built):
    reports, summary = built
    page = summary.html.read_text(encoding="utf-8")
    markdown = summary.markdown.read_text(encoding="utf-8")
    assert summary.html == reports / "index.html" and summary.markdown == reports / "README.md"
    assert '<html lang="ja">' in page and '<meta charset="utf-8">' in page
    for heading in ("dataset statistics", "learning curves", "generation", "speed benchmarks",
                    "most confident mistakes", "theme classification — cv5", "theme classification — peer"):
        assert heading in page and heading in markdown
    # metric tables: numbers as computed from results.csv
    theme_cv5 = _mean_std(reports / "theme-cv5" / "results.csv", "bilstm_attention", "macro_f1")
    theme_peer = _mean_std(reports / "theme-peer" / "results.csv", "bilstm_attention", "weighted_f1")
    sentiment = _mean_std(reports / "sentiment-cv5" / "results.csv", "tfidf_lr", "accuracy")
    for value in (theme_cv5, theme_peer, sentiment):
        assert value in page and value in markdown
    # the published KNBC theme results beside ours (peer protocol only)
    assert "fine-tuned Japanese BERT" in page and "0.838" in page and "0.837" in page
    assert page.count("published, not rerun here") >= 3
    # dataset statistics from the corpus, with the reader's report
    assert "4186" in page and "KN024_Kyoto_1/2" in page
    # generation: metrics and samples from results.json, heatmaps
    generation = json.loads((reports / "generation" / "results.json").read_text(encoding="utf-8"))
    chrf = generation["keywords"]["Seq2Seq + attention + copy (beam4)"]["chrf"]
    assert f"{chrf:.2f}" in page
    samples = generation["samples"]
    assert samples and samples[0]["outputs"]["reference"] in page
    assert "generation/attention_0.png" in page
    # speed benchmarks
    benchmark = json.loads((reports / "benchmark.json").read_text(encoding="utf-8"))
    assert str(benchmark["pipeline_sentences_per_s"]) in page
    # learning curves from the training logs, plotted here
    assert "learning_curves/classifiers.png" in page and "learning_curves/generators.png" in page
    # every image the page shows exists and is a PNG
    parser = _Images()
    parser.feed(page)
    assert len(parser.sources) >= 12
    for source in parser.sources:
        assert (reports / source).read_bytes()[:8] == PNG_MAGIC, source
    # each evaluation folder's own report was rebuilt too
    own_report = (reports / "theme-cv5" / "report.md").read_text(encoding="utf-8")
    assert theme_cv5 in own_report and "(per_class_f1.png)" in own_report


def test_absent_inputs_are_named_with_the_command_that_makes_them(built):
    reports, summary = built
    page = summary.html.read_text(encoding="utf-8")
    if not (reports / "sentiment-peer" / "results.csv").is_file():
        assert any(line.startswith("sentiment-peer") for line in summary.missing)
        assert "knbc evaluate --task sentiment --protocol peer" in page
    if not (reports / "benchmark-process.json").is_file():
        assert "benchmark-process.json" in page


def test_empty_reports_folder_gives_a_report_of_what_is_missing(tmp_path, corpus):
    reports, models = tmp_path / "reports", tmp_path / "models"
    reports.mkdir()
    summary = write_summary(reports, models, corpus=corpus)
    page = summary.html.read_text(encoding="utf-8")
    assert "No evaluation results found; <code>make evaluate</code>" in page
    for command in ("knbc evaluate --task theme --protocol cv5", "knbc evaluate-generation",
                    "knbc benchmark --busy --out", "make models"):
        assert command in page, command
    assert "<img" not in page
    assert len(summary.missing) >= 8  # four comparisons, six models' logs, generation, two benchmarks
    assert "4186" in page  # the corpus statistics do not depend on reports/


def test_cli_report_builds_the_combined_report_and_keeps_the_single_folder_form(tmp_path):
    runner = CliRunner()
    empty = tmp_path / "reports"
    empty.mkdir()
    result = runner.invoke(app, ["report", "--reports", str(empty), "--models", str(tmp_path / "none")])
    assert result.exit_code == 0, result.output
    assert "missing: theme-cv5" in result.output and (empty / "index.html").is_file()
    assert (empty / "README.md").is_file()
    result = runner.invoke(app, ["report", "--reports", str(tmp_path / "absent")])
    assert result.exit_code == 2 and "is not a folder" in result.output
    result = runner.invoke(app, ["report", str(empty)])  # the old form: one results folder
    assert result.exit_code == 2 and "holds no results.csv" in result.output


def test_html_escapes_text_and_table_cells():
    section = Section("a <title>", "x", [Text("1 < 2 & `<code>`"), Table(pd.DataFrame({"t": ["<script>"]})),
                                         Notice("**missing** <b>")])
    page = render_html(Document("T & <T>", [section], Text("intro"), contents=True))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "1 &lt; 2 &amp; <code>&lt;code&gt;</code>" in page
    assert "<title>T &amp; &lt;T&gt;</title>" in page and "a &lt;title&gt;" in page
    assert "<strong>missing</strong> &lt;b&gt;" in page


def test_training_history_reads_dev_perplexity_for_generators(tmp_path):
    history, metrics = training_history(MODELS / "generator-keywords")
    assert list(history["epoch"]) == list(range(1, len(history) + 1))
    assert history["dev_label"].iloc[0] == "dev perplexity" and metrics["best_epoch"] in set(history["epoch"])
    history, _ = training_history(MODELS / "theme")
    assert history["dev_label"].iloc[0] == "dev macro F"
    with pytest.raises(FileNotFoundError):
        training_history(tmp_path)


def _chromium_driver(profile: Path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip("headless Chromium is not installed: `make browser` installs chromium and chromium-driver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def test_html_renders_with_its_images_in_headless_chromium(built, tmp_path):
    _, summary = built
    driver = _chromium_driver(tmp_path / "chromium-profile")
    try:
        driver.set_page_load_timeout(120)
        driver.get(summary.html.resolve().as_uri())
        assert driver.title == "KNBC 評価レポート / evaluation report"
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]);"
        )
        assert len(images) >= 12
        broken = [src for src, complete, width in images if not (complete and width > 0)]
        assert not broken, f"images that did not load: {broken}"
        headings = driver.execute_script("return Array.from(document.querySelectorAll('h2')).map(h => h.textContent);")
        assert headings[:2] == ["概要 / overview", "コーパス統計 / dataset statistics"]
        assert "学習曲線 / learning curves" in headings and "文生成 / generation" in headings
        links = driver.execute_script("return Array.from(document.querySelectorAll('nav a')).map(a => a.hash);")
        assert len(links) == len(headings) and all(driver.execute_script(
            "return document.getElementById(arguments[0]) !== null;", link[1:]) for link in links)
        tables = driver.execute_script("return document.querySelectorAll('table').length;")
        assert tables >= 10
        assert re.search(r"\d\.\d{3} ± \d\.\d{3}", driver.find_element("tag name", "body").text)
    finally:
        driver.quit()


# ---- the one renderer, the registry ------------------------------------------------------------------------


def _html_rows(page: str) -> list[list[str]]:
    class Rows(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = []

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append("".join(self.cell).strip())
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data)

    parser = Rows()
    parser.feed(page)
    return parser.rows


def _markdown_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([cell.strip().replace("\\|", "|") for cell in cells])
    return rows


def test_a_table_block_renders_to_the_same_rows_in_markdown_and_html():
    frame = pd.DataFrame({"model": ["a|b", "<i>x</i>", "京都"], "score": ["0.5 ± 0.1", None, "1"]})
    document = Document("T", [Section("S", "s", [Table(frame, "caption")])])
    markdown, page = render_markdown(document), render_html(document)
    expected = [["model", "score"], ["a|b", "0.5 ± 0.1"], ["<i>x</i>", "—"], ["京都", "1"]]
    assert _markdown_rows(markdown) == expected
    assert _html_rows(page) == expected
    assert "<i>x</i>" not in page and "&lt;i&gt;x&lt;/i&gt;" in page  # escaped in HTML
    assert "| a\\|b |" in markdown  # the pipe escaped in Markdown
    assert "**caption**" in markdown and '<p class="table-title">caption</p>' in page


def test_a_new_model_folder_with_a_training_log_appears_without_code_change(tmp_path, corpus):
    reports, models = tmp_path / "reports", tmp_path / "models"
    reports.mkdir()
    shutil.copytree(MODELS / "theme", models / "theme", ignore=shutil.ignore_patterns("theme", "vocab", "tokenizer"))
    new = models / "generator-brand-new"
    new.mkdir()
    shutil.copy(MODELS / "lm" / "train_log.jsonl", new / "train_log.jsonl")
    shutil.copy(MODELS / "lm" / "metrics.json", new / "metrics.json")
    assert "generator-brand-new" not in {a.name for a in registry.ARTEFACTS}
    summary = write_summary(reports, models, corpus=corpus, rerender=False)
    markdown = summary.markdown.read_text(encoding="utf-8")
    assert "| generator-brand-new |" in markdown  # in the training-runs table
    assert "learning_curves/generators.png" in markdown and (reports / "learning_curves" / "generators.png").is_file()
    assert not any("generator-brand-new" in line for line in summary.missing)


def test_an_absent_artefact_gives_a_notice_naming_its_command(tmp_path, corpus):
    reports = tmp_path / "reports"
    reports.mkdir()
    summary = write_summary(reports, tmp_path / "models", corpus=corpus)
    markdown = summary.markdown.read_text(encoding="utf-8")
    notices = [line for line in markdown.splitlines() if line.startswith("> ")]
    for artefact in registry.ARTEFACTS:
        command = artefact.make_command(reports, tmp_path / "models")
        assert any(f"`{command}` makes it" in line and f"`make {artefact.make_target}`" in line
                   for line in notices), command


# ---- the sentence splitter, the post classifier and the span taggers --------------------------------------


def _read(reports: Path, name: str) -> dict:
    return json.loads((reports / name / "results.json").read_text(encoding="utf-8"))


def _row(rows: list[list[str]], first: str) -> list[str]:
    found = [row for row in rows if row and row[0] == first]
    assert found, f"no table row starting with {first!r}"
    return found[0]


def test_report_shows_the_splitter_posts_and_taggers_sections_with_their_tables(built):
    reports, summary = built
    page = summary.html.read_text(encoding="utf-8")
    markdown = summary.markdown.read_text(encoding="utf-8")
    html_rows, markdown_rows = _html_rows(page), _markdown_rows(markdown)
    for anchor in ("sentences", "posts", "taggers"):
        assert f'<section id="{anchor}">' in page and f'<a id="{anchor}"></a>' in markdown
        artefact = next(a for a in registry.ARTEFACTS if a.name == anchor)
        how = artefact.how_to_make(reports)  # said as a sentence of the section, not as a notice
        assert f"\n{how}\n" in markdown and f"> {how}" not in markdown
    # the splitter: a row per way of joining, its numbers those of results.json
    splitter = _read(reports, "sentences")["variants"]["none"]
    for rows in (html_rows, markdown_rows):
        row = _row(rows, "nothing")
        assert row[1:4] == [str(splitter["gold_boundaries"]), str(splitter["true_positives"] + splitter["false_positives"]),
                            str(splitter["true_positives"])]
        assert row[-1] == f"{splitter['f1']:.4f}"
    # the post classifier: the HAN's post accuracy, mean ± std of the folds' accuracies as results.json holds them
    posts = _read(reports, "posts")
    accuracies = np.array([fold["han"]["post"]["accuracy"] for fold in posts["folds"]])
    han_accuracy = f"{accuracies.mean():.3f} ± {accuracies.std():.3f}"
    for rows in (html_rows, markdown_rows):
        assert _row(rows, "HAN (this work): post head; sentences by their heads in context")[1] == han_accuracy
        assert _row(rows, "fold0")[3] == f"{posts['folds'][0]['han']['post']['accuracy']:.3f}"
    assert 'src="posts/attention.png"' in page and "(posts/attention.png)" in markdown
    # the taggers: the BiLSTM-CRF's exact micro-F per task, spancat's note, a displaCy rendering of each task
    taggers = _read(reports, "taggers")
    for task in ("ner", "reputation"):
        f = taggers["systems"][task]["bilstm_crf"]["scores"]["exact"]["micro"]["f"]
        crf_rows = [row for row in html_rows if row and row[0] == "BiLSTM-CRF (ours)" and len(row) >= 10]
        assert f"{f:.3f}" in {row[3] for row in crf_rows}, task
        assert f"(taggers/{taggers['renderings'][task]})" in markdown
    notes = [run["note"].rstrip(".") for systems in taggers["systems"].values() for r in systems.values()
             for run in r["runs"] if run.get("note")]
    for note in notes:  # a run's note (e.g. a spaCy baseline stopped by the time budget) is said
        assert note in page and note in markdown
    # sentence sentiment from the 評判 spans beside the sentence classifier, its macro-F1 as results.json holds it
    assert "Sentence sentiment from 評判 spans" in page and "Sentence sentiment from 評判 spans" in markdown
    crf = taggers["systems"]["reputation"]["bilstm_crf"]["sentence_sentiment"]
    classifier = taggers["sentence_classifier"]
    for rows in (html_rows, markdown_rows):
        assert _row(rows, "BiLSTM-CRF (ours): spans -> sentence")[2] == f"{crf['macro_f1']:.3f}"
        assert _row(rows, f"sentence classifier: {classifier['source']}")[2] == f"{classifier['macro_f1']:.3f}"
    assert page.count('<figure class="embed">') == 4
    assert '<div class="entities"' in page and '<div class="spans"' in page
    assert '<div class="entities"' not in markdown  # the Markdown links to the renderings instead


def test_the_new_sections_say_how_to_make_their_results_when_absent(tmp_path):
    from pipeline.report.sections import posts_section, splitter_section, taggers_section

    reports = tmp_path / "reports"
    sections = {"sentences": splitter_section(registry.sentences(), None, reports),
                "posts": posts_section(registry.posts(), None, None, reports),
                "taggers": taggers_section(registry.taggers(), None, {}, reports)}
    for name, section in sections.items():
        [notice] = section.blocks
        assert isinstance(notice, Notice)
        artefact = next(a for a in registry.ARTEFACTS if a.name == name)
        assert f"`{(reports / name / 'results.json').as_posix()}` not found" in notice.text
        assert f"`{artefact.make_command(reports)}` makes it" in notice.text
        assert f"`make evaluate-{'splitter' if name == 'sentences' else name}`" in notice.text
    assert "--protocol cv5 --runs 1 --spacy-max-epochs 5" in sections["taggers"].blocks[0].text


def test_results_json_alone_gives_the_tables_draws_the_attention_plot_and_names_missing_renderings(tmp_path, corpus):
    reports = tmp_path / "reports"
    for name in ("sentences", "posts", "taggers"):
        (reports / name).mkdir(parents=True)
        shutil.copy(REPORTS / name / "results.json", reports / name / "results.json")
    summary = write_summary(reports, tmp_path / "models", corpus=corpus)
    page = summary.html.read_text(encoding="utf-8")
    assert (reports / "posts" / "attention.png").read_bytes()[:8] == PNG_MAGIC  # drawn from attention_sample
    assert 'src="posts/attention.png"' in page
    assert "BiLSTM-CRF (ours)" in page and "HAN (this work)" in page and "<td>nothing</td>" in page
    for task in ("ner", "reputation"):
        assert f"{(reports / 'taggers' / f'displacy-{task}.html').as_posix()}: not found" in summary.missing
    assert '<figure class="embed">' not in page


def test_a_displacy_rendering_with_active_content_is_left_out(tmp_path):
    from pipeline.report.blocks import Embed
    from pipeline.report.inputs import displacy_fragments

    path = tmp_path / "displacy-ner.html"
    path.write_text("<!DOCTYPE html><html><body>"
                    "<h4>s1 (gold)</h4><div class='entities'>京都<script>alert(1)</script></div>"
                    "<h4>s1 (BiLSTM-CRF)</h4><div class='entities' onmouseover='x()'>京都</div>"
                    "<h4>s2 &amp; (gold)</h4><div class='entities'><mark>京都</mark>に行った</div>"
                    "<h4>s2 (BiLSTM-CRF)</h4><div class='entities'>京都に行った</div></body></html>", encoding="utf-8")
    fragments = displacy_fragments(path, 2)
    assert fragments == [("s2 & (gold)", "<div class='entities'><mark>京都</mark>に行った</div>"),
                         ("s2 (BiLSTM-CRF)", "<div class='entities'>京都に行った</div>")]
    document = Document("T", [Section("S", "s", [Embed(fragments[0][1], "taggers/displacy-ner.html", "s2")])])
    assert "<mark>京都</mark>に行った" in render_html(document)
    assert "*s2*: [taggers/displacy-ner.html](taggers/displacy-ner.html)" in render_markdown(document)
