"""The knbc command line, run as a user runs it."""

import pandas as pd
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


def test_corpus_stats_agrees_with_the_readme():
    result = runner.invoke(app, ["corpus", "stats"])
    assert result.exit_code == 0, result.output
    assert "agree with the corpus README" in result.output
    total = [line for line in result.output.splitlines() if line.startswith("total")][0].split()
    assert total[1:3] == ["249", "4186"]


def test_corpus_stats_names_a_missing_corpus(tmp_path):
    result = runner.invoke(app, ["corpus", "stats", "--corpus", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "KNB corpus not found" in result.output


def test_export_parquet_and_refuse_to_overwrite(tmp_path):
    out = tmp_path / "knbc.parquet"
    result = runner.invoke(app, ["corpus", "export", "--format", "parquet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert len(frame) == 4186 and {"sid", "text", "theme", "sentiment", "split", "fold"} <= set(frame.columns)
    again = runner.invoke(app, ["corpus", "export", "--format", "parquet", "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_export_token_level_jsonl(tmp_path):
    out = tmp_path / "tokens.jsonl"
    result = runner.invoke(app, ["corpus", "export", "--format", "jsonl", "--level", "token", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_json(out, lines=True)) == 66031


def test_splits_check():
    result = runner.invoke(app, ["corpus", "splits", "--check"])
    assert result.exit_code == 0, result.output
    assert "match the derived ones" in result.output


def test_coverage_on_a_small_corpus(tmp_path):
    from test_corpus_malformed import write_corpus

    result = runner.invoke(app, ["corpus", "coverage", "--corpus", str(write_corpus(tmp_path))])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1] for line in result.output.splitlines()[1:]}
    assert set(lines) == {"text", "text+lemma", "text+lemma+norm"}
    assert lines["text+lemma+norm"] == "100.00%"  # every token of these two sentences has one


def test_classify_with_the_shipped_pipeline():
    import json

    result = runner.invoke(app, ["classify", "京都の紅葉がきれいでした。", ""])
    assert result.exit_code == 0, result.output
    kyoto, empty = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert kyoto["theme"] == "京都観光" and kyoto["sentiment"] == "positive"
    assert empty["theme"] is None and set(empty["cats"].values()) == {0.25}


def test_generate_with_the_shipped_keywords_model():
    import json

    result = runner.invoke(app, ["generate", "--method", "greedy", "京都 紅葉 きれい", "の が"])
    assert result.exit_code == 0, result.output
    sentence, nothing = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert "紅葉" in sentence["generated"] and "<unk>" not in sentence["generated"]
    assert nothing["generated"] == "" and "no content words" in nothing["note"]
    bad = runner.invoke(app, ["generate", "--beam-size", "0", "京都"])
    assert bad.exit_code == 2 and "beam_size must be 1..64" in bad.output


def test_generate_reads_a_file_or_says_why_not(tmp_path):
    import json

    inputs = tmp_path / "keywords.txt"
    inputs.write_text("京都 紅葉\nラーメン おいしい\n", encoding="utf-8")
    result = runner.invoke(app, ["generate", "--method", "greedy", "--file", str(inputs)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["input"] for line in result.output.splitlines() if line.startswith("{")] == [
        "京都 紅葉", "ラーメン おいしい"]
    (tmp_path / "bad.txt").write_bytes("京都".encode("euc_jp"))
    bad = runner.invoke(app, ["generate", "--file", str(tmp_path / "bad.txt")])
    assert bad.exit_code == 2 and "codec can't decode" in bad.output


def test_classify_answers_the_good_lines_and_names_the_bad_ones():
    import json

    stdin = "京都の紅葉がきれいでした。\n".encode() + b"\xff\xfe bad\n" + "ラーメンがおいしい。\n".encode()
    result = runner.invoke(app, ["classify"], input=stdin)
    assert result.exit_code == 1, result.output
    good, bad, last = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert good["theme"] == "京都観光" and last["theme"] == "グルメ"
    assert bad["line"] == 2 and "invalid UTF-8" in bad["error"] and bad["input"] == "\\xff\\xfe bad"


def test_generate_answers_the_good_lines_and_names_the_bad_ones():
    import json

    stdin = b"\xe4\xba\n" + "京都 紅葉 きれい\n".encode()
    result = runner.invoke(app, ["generate", "--method", "greedy"], input=stdin)
    assert result.exit_code == 1, result.output
    bad, good = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert bad["line"] == 1 and "invalid UTF-8" in bad["error"] and "generated" not in bad
    assert good["input"] == "京都 紅葉 きれい" and "紅葉" in good["generated"]


def test_generate_names_an_unknown_theme_in_one_line():
    result = runner.invoke(app, ["generate", "--model", "models/lm", "--theme", "野球", "今日は"])
    assert result.exit_code == 2
    assert "unknown theme '野球'; expected one of 携帯電話, 京都観光, スポーツ, グルメ" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_classify_reads_windows_line_ends_from_stdin():
    import json

    result = runner.invoke(app, ["classify"], input="京都の紅葉がきれいでした。\r\nラーメン\r\n".encode())
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["text"] for line in result.output.splitlines()] == ["京都の紅葉がきれいでした。", "ラーメン"]
