"""pipeline.classify / generate / similar: what Python users call and the knbc commands print."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import pipeline
from pipeline.cli import app
from pipeline.errors import GenerationError, UsageError
from pipeline.models.generator import Decoding

runner = CliRunner()


def _printed(args: list[str]) -> list[dict]:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


def test_importing_the_package_loads_neither_torch_nor_spacy():
    code = ("import sys, pipeline; pipeline.classify, pipeline.generate, pipeline.similar; "
            "print(sorted(m for m in ('torch', 'spacy', 'thinc') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_classify_gives_what_knbc_classify_prints():
    texts = ["京都の紅葉がきれいでした。", "", "携帯の電池がすぐ切れる。"]
    records = pipeline.classify(texts)
    assert records == _printed(["classify", *texts])
    assert records[0]["theme"] == "京都観光" and records[1]["theme"] is None and records[2]["theme"] == "携帯電話"


def test_generate_gives_what_knbc_generate_prints():
    texts = ["京都 紅葉 きれい", "の が"]
    records = pipeline.generate(texts, decoding=Decoding(method="greedy"))
    assert records == _printed(["generate", "--method", "greedy", *texts])
    assert "紅葉" in records[0]["generated"] and records[1] == {"input": "の が", "generated": "",
                                                              "note": "no content words to generate from"}


def test_generate_with_the_language_model_starts_with_the_prompt_in_a_theme():
    prompt = "今日は"
    [default] = pipeline.generate([prompt], model="models/lm", decoding=Decoding(method="greedy", max_length=10))
    [kyoto] = pipeline.generate([prompt], model="models/lm", theme="京都観光",
                                decoding=Decoding(method="greedy", max_length=10))
    assert default == kyoto and kyoto["generated"].startswith(prompt)  # the default theme is 京都観光


def test_generate_refuses_a_bad_theme_or_decoding_before_reading_any_text():
    with pytest.raises(UsageError, match="unknown theme '野球'"):
        pipeline.generate(["今日は"], model="models/lm", theme="野球")
    with pytest.raises(GenerationError, match="beam_size"):
        pipeline.generate(["京都"], decoding=Decoding(beam_size=0))


def test_similar_gives_what_knbc_similar_prints():
    result = runner.invoke(app, ["similar", "テスト", "--top", "3"])
    assert result.exit_code == 0, result.output
    printed = [(word, float(score)) for word, score in (line.split("\t") for line in result.output.splitlines())]
    assert [(word, round(score, 2)) for word, score in pipeline.similar("テスト", 3)] == printed
