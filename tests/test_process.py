"""``knbc process``: inputs of every kind, bad input accounted for, output formats, engines, kill and resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.batch import AnnotateOptions, InputSpec, process
from pipeline.cli import app
from pipeline.errors import InputError, OutputError
from pipeline.loading import DEFAULT_PIPELINE
from pipeline.tokenizer import SUDACHI_MAX_BYTES

OPTIONS = AnnotateOptions(model=str(DEFAULT_PIPELINE))
SENTENCES = ["京都の紅葉がきれいでした。", "このケータイは電池がすぐ切れて困る。", "ラーメンのスープが絶品だ。",
             "昨日のサッカーの試合は最高だった！"]


def _jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _run(inputs, out, **kwargs):
    kwargs.setdefault("progress", False)
    return process([str(p) for p in inputs], out, kwargs.pop("options", OPTIONS), **kwargs)


@pytest.fixture(scope="module")
def corpus_jsonl(tmp_path_factory, corpus):
    """The first 1,500 KNBC sentences (titles left out: they carry the theme marker) as JSONL."""
    path = tmp_path_factory.mktemp("inputs") / "knbc.jsonl"
    rows = [{"text": s.text, "sid": s.sid} for s in corpus.sentences if not s.is_title][:1500]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_every_input_kind_with_passthrough_and_order(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("\n".join(SENTENCES[:2]) + "\n", encoding="utf-8")
    (folder / "sub" / "b.jsonl").write_text(
        json.dumps({"text": SENTENCES[2], "id": 7, "tags": ["x"]}, ensure_ascii=False) + "\n\n", encoding="utf-8")
    pd.DataFrame({"body": [SENTENCES[3]], "n": [1]}).to_csv(folder / "sub" / "c.csv", index=False)
    pd.DataFrame({"body": [SENTENCES[0]], "n": [2]}).to_parquet(folder / "d.parquet")
    (folder / ".hidden.txt").write_text("never read\n", encoding="utf-8")
    (folder / "notes.md").write_text("# not an input\n", encoding="utf-8")
    paragraphs = tmp_path / "p.txt"
    paragraphs.write_text(f"{SENTENCES[0]}\n{SENTENCES[2]}\n\n\n{SENTENCES[1]}\n", encoding="utf-8")

    out = tmp_path / "out.jsonl"
    summary = _run([folder], out, spec=InputSpec(text_field="text"))
    rows, errors = _jsonl(out), _jsonl(summary.errors_path)
    assert [r["doc_id"] for r in rows] == [f"{folder}/a.txt:1", f"{folder}/a.txt:2", f"{folder}/sub/b.jsonl:1"]
    assert rows[0]["theme"] == "京都観光" and rows[1]["theme"] == "携帯電話"
    assert set(rows[0]) >= {"text", "theme", "theme_score", "sentiment", "sentiment_score", "score_グルメ"}
    assert rows[2]["id"] == 7 and rows[2]["tags"] == ["x"]  # other fields pass through
    # the CSV and Parquet files have no "text" column: each of their records is in the errors file, with it
    reasons = {e["doc_id"]: e["reason"] for e in errors}
    assert "no 'text' field" in reasons[f"{folder}/sub/c.csv:2"] and "no 'text' field" in reasons[f"{folder}/d.parquet:1"]
    assert "not a supported input" in reasons[f"{folder}/notes.md"]
    assert summary.records == summary.written + summary.failed == 6

    by_body = _run([folder / "sub" / "c.csv", folder / "d.parquet"], tmp_path / "body.csv",
                   spec=InputSpec(text_field="body"))
    table = pd.read_csv(by_body.out)
    assert list(table["theme"]) == ["スポーツ", "京都観光"] and list(table["n"]) == [1, 2]

    summary = _run([paragraphs], tmp_path / "para.jsonl", spec=InputSpec(paragraphs=True))
    rows = _jsonl(summary.out)
    assert [r["doc_id"] for r in rows] == [f"{paragraphs}:1", f"{paragraphs}:5"]
    assert rows[0]["text"] == f"{SENTENCES[0]}\n{SENTENCES[2]}"


def test_bad_records_go_to_the_errors_file_with_their_reason(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes("\n".join([
        json.dumps({"text": SENTENCES[0]}, ensure_ascii=False), "{not json", "[1, 2]", '{"text": 5}', '{"body": "x"}',
        '{"text": ""}', '{"text": "   "}',
    ]).encode() + b"\n" + b'{"text": "\xff\xfe"}\n')
    lines = tmp_path / "lines.txt"
    lines.write_bytes(SENTENCES[1].encode() + b"\n\n\xe4\xba\n")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    broken = tmp_path / "folder"
    broken.mkdir()
    (broken / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    summary = _run([bad, lines, binary, broken], tmp_path / "out.jsonl")
    rows, errors = _jsonl(summary.out), _jsonl(summary.errors_path)
    assert [r["doc_id"] for r in rows] == [f"{bad}:1", f"{lines}:1"]
    reasons = {e["doc_id"]: e["reason"] for e in errors}
    assert reasons[f"{bad}:2"].startswith("invalid JSON")
    assert reasons[f"{bad}:3"] == "expected a JSON object, found list"
    assert reasons[f"{bad}:4"] == "field 'text' is int, not a string"
    assert reasons[f"{bad}:5"].startswith("no 'text' field (fields: body)")
    assert reasons[f"{bad}:6"] == "empty document" and "whitespace" in reasons[f"{bad}:7"]
    assert reasons[f"{bad}:8"].startswith("invalid UTF-8") and reasons[f"{lines}:3"].startswith("invalid UTF-8")
    assert reasons[f"{lines}:2"] == "empty document"
    assert reasons[str(binary)].startswith("binary file")
    assert reasons[f"{broken}/gone.txt"].startswith("cannot read the file")
    assert next(e for e in errors if e["doc_id"] == f"{lines}:3")["text"] == "\\xe4\\xba"  # the bytes, escaped
    assert summary.written + summary.failed == summary.records == 13


def test_a_document_the_pipeline_fails_on_is_an_error_and_the_rest_go_on(tmp_path, monkeypatch):
    import pipeline.batch.annotate as annotate

    columns = annotate._columns

    def fail_on_boom(doc, *args):
        if "爆発" in doc.text:
            raise RuntimeError("boom")
        return columns(doc, *args)

    monkeypatch.setattr(annotate, "_columns", fail_on_boom)
    path = tmp_path / "in.txt"
    path.write_text(f"{SENTENCES[0]}\n爆発する文\n{SENTENCES[1]}\n", encoding="utf-8")
    summary = _run([path], tmp_path / "out.jsonl")
    assert [r["doc_id"] for r in _jsonl(summary.out)] == [f"{path}:1", f"{path}:3"]
    (error,) = _jsonl(summary.errors_path)
    assert error["doc_id"] == f"{path}:2" and "RuntimeError: boom" in error["reason"] and error["text"] == "爆発する文"


def test_a_text_over_sudachis_limit_is_annotated_not_dropped(tmp_path):
    repeats = SUDACHI_MAX_BYTES // len(SENTENCES[1].encode()) + 10
    long_text = SENTENCES[1] * repeats  # 10 tokens each
    assert len(long_text.encode()) > SUDACHI_MAX_BYTES
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"text": long_text}, ensure_ascii=False) + "\n", encoding="utf-8")
    longer = long_text * 9  # over the csv module's default field limit (131,072 characters) too
    pd.DataFrame({"text": [longer]}).to_csv(tmp_path / "long.csv", index=False)
    rows = _jsonl(_run([path, tmp_path / "long.csv"], tmp_path / "out.jsonl").out)
    assert [(row["text"], row["n_tokens"]) for row in rows] == [(long_text, 10 * repeats), (longer, 90 * repeats)]
    assert all(row["theme"] == "携帯電話" for row in rows)


def test_output_formats_agree_and_tokens_are_lists(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    options = AnnotateOptions(model=str(DEFAULT_PIPELINE), tokens=True)
    frames = {fmt: _run([path], tmp_path / f"{fmt}.{fmt}", options=options).out for fmt in ("jsonl", "csv", "parquet")}
    jsonl, parquet = pd.read_json(frames["jsonl"], lines=True), pd.read_parquet(frames["parquet"])
    csv = pd.read_csv(frames["csv"])
    assert list(parquet["theme"]) == list(csv["theme"]) == list(jsonl["theme"]) == ["京都観光", "携帯電話", "グルメ", "スポーツ"]
    assert list(parquet["tokens"][0]) == json.loads(csv["tokens"][0]) == jsonl["tokens"][0]
    assert parquet["theme_score"].tolist() == pytest.approx(csv["theme_score"].tolist())


def test_an_existing_output_is_refused_unless_overwrite(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text(SENTENCES[0] + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    _run([path], out)
    with pytest.raises(OutputError, match="--overwrite"):
        _run([path], out)
    assert _run([path], out, overwrite=True).written == 1
    assert _run([tmp_path], out, overwrite=True).written == 1  # its own output in the folder is not an input
    with pytest.raises(InputError, match="where this run writes"):
        _run([out], out, overwrite=True)
    with pytest.raises(OutputError, match="complete"):
        _run([path], out, resume=True)


def test_cli_reads_stdin_and_names_bad_arguments(tmp_path):
    runner = CliRunner()
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["process", "--out", str(out), "--quiet"], input="\n".join(SENTENCES[:2]) + "\n")
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(out)["doc_id"]) == ["-:1", "-:2"]
    missing = runner.invoke(app, ["process", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "o.jsonl")])
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
    (tmp_path / "x.docx").write_text("?", encoding="utf-8")
    unknown = runner.invoke(app, ["process", str(tmp_path / "x.docx"), "--out", str(tmp_path / "o.jsonl")])
    assert unknown.exit_code == 2 and "--input-format" in unknown.output
    no_format = runner.invoke(app, ["process", "--out", str(tmp_path / "o.txt")], input="x\n")
    assert no_format.exit_code == 2 and "output format" in no_format.output
    again = runner.invoke(app, ["process", "--out", str(out)], input="x\n")
    assert again.exit_code == 2 and "exists" in again.output


def test_engines_write_the_same_output(tmp_path, corpus_jsonl):
    subset = tmp_path / "subset.jsonl"
    subset.write_text("".join(corpus_jsonl.read_text(encoding="utf-8").splitlines(True)[:300]), encoding="utf-8")
    outputs = {}
    for name, engine, n_process in (("one", "local", 1), ("two", "local", 2), ("dask", "dask", 2)):
        summary = _run([subset], tmp_path / f"{name}.jsonl", engine=engine, n_process=n_process, chunk_size=64)
        assert summary.workers == n_process and summary.written == 300
        outputs[name] = summary.out.read_bytes().replace(str(subset).encode(), b"")
    assert outputs["one"] == outputs["two"] == outputs["dask"]


def test_killed_half_way_then_resumed_gives_the_uninterrupted_output(tmp_path, corpus_jsonl):
    expected = _run([corpus_jsonl], tmp_path / "expected.jsonl", chunk_size=16)
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "pipeline.cli", "process", str(corpus_jsonl), "--out", str(out),
               "--chunk-size", "16", "--quiet"]
    state = tmp_path / ".out.jsonl.state.json"
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and child.poll() is None:
        if state.exists() and json.loads(state.read_text())["done"] >= 160:
            break
        time.sleep(0.01)
    assert child.poll() is None, "the run ended before it could be killed: " + child.stderr.read().decode()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    done = json.loads(state.read_text())["done"]
    assert 0 < done < 1500 and not out.exists()  # killed half-way: no output file yet, only the spools

    fresh = subprocess.run(command, capture_output=True, text=True)
    assert fresh.returncode == 2 and "--resume" in fresh.stderr
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed after {done}" in resumed.stderr
    assert out.read_bytes() == expected.out.read_bytes()
    assert (tmp_path / "out.jsonl.errors.jsonl").read_bytes() == expected.errors_path.read_bytes()
    assert not state.exists()


def test_an_engine_that_cannot_start_leaves_nothing_behind(tmp_path, monkeypatch):
    import importlib

    from pipeline.errors import EngineError

    process_module = importlib.import_module("pipeline.batch.process")  # the module, not the function

    path = tmp_path / "in.txt"
    path.write_text(SENTENCES[0] + "\n", encoding="utf-8")
    with pytest.raises(EngineError, match="unknown engine"):
        _run([path], tmp_path / "out.jsonl", engine="spark")

    def unreachable(*args):
        raise EngineError("cannot reach the Dask scheduler tcp://nowhere:8786")

    monkeypatch.setattr(process_module, "start_engine", unreachable)
    with pytest.raises(EngineError, match="cannot reach"):
        _run([path], tmp_path / "out.jsonl", engine="dask", scheduler="tcp://nowhere:8786")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]  # no spools, no state asking for --resume


def test_resume_refuses_other_inputs(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text(SENTENCES[0] + "\n", encoding="utf-8")
    second.write_text(SENTENCES[1] + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    (tmp_path / ".out.jsonl.state.json").write_text(json.dumps({
        "fingerprint": {"inputs": [[str(first), "txt", 1, 1]]}, "done": 0, "written": 0, "failed": 0,
        "results_bytes": 0, "errors_bytes": 0}), encoding="utf-8")
    with pytest.raises(OutputError, match="cannot resume"):
        _run([second], out, resume=True)


@pytest.mark.parametrize("option, value", [("--chunk-size", "0"), ("--chunk-size", "-5"), ("--batch-size", "0"),
                                           ("--torch-threads", "0"), ("--n-process", "-1")])
def test_a_size_under_one_is_a_one_line_error_before_anything_is_written(tmp_path, option, value):
    path = tmp_path / "in.txt"
    path.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["process", str(path), "--out", str(tmp_path / "o.jsonl"), "--quiet",
                                      option, value])
    assert result.exit_code == 2, result.output
    assert option in result.output and len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]  # no output, no spools, no resume state



def test_two_outputs_of_one_stem_keep_their_own_errors_files(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text(f"{SENTENCES[0]}\n\n", encoding="utf-8")
    second.write_text(f"{SENTENCES[1]}\n   \n", encoding="utf-8")
    jsonl = _run([first], tmp_path / "k.jsonl")
    kept = jsonl.errors_path.read_bytes()
    csv = _run([second], tmp_path / "k.csv", overwrite=True)
    assert (jsonl.errors_path.name, csv.errors_path.name) == ("k.jsonl.errors.jsonl", "k.csv.errors.jsonl")
    assert jsonl.errors_path.read_bytes() == kept  # k.jsonl's errors are still k.jsonl's
    assert [e["doc_id"] for e in _jsonl(csv.errors_path)] == [f"{second}:2"]


def test_a_lone_surrogate_escape_goes_to_the_errors_file_and_the_run_goes_on(tmp_path):
    path = tmp_path / "in.jsonl"
    lines = ['{"text": "ok", "note": "\\udc80"}', '{"text": "\\ud800 京都"}', '{"text": "x", "\\udfff": 1}',
             json.dumps({"text": SENTENCES[0], "emoji": "\U0001f600"}), '{"text": "\\ud83d\\ude00 ok"}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for out in (tmp_path / "out.jsonl", tmp_path / "out.csv", tmp_path / "out.parquet"):
        summary = _run([path], out)
        assert summary.written == 2 and summary.failed == 3
    rows, errors = _jsonl(tmp_path / "out.jsonl"), _jsonl(summary.errors_path)
    assert [r["doc_id"] for r in rows] == [f"{path}:4", f"{path}:5"] and rows[1]["text"] == "\U0001f600 ok"
    assert [e["doc_id"] for e in errors] == [f"{path}:1", f"{path}:2", f"{path}:3"]
    assert all("lone surrogate" in e["reason"] for e in errors)
    assert [e["text"] for e in errors] == lines[:3]  # the line as read: the escape is kept, as text
    assert "field(s) note" in errors[0]["reason"] and "field(s) text" in errors[1]["reason"]


def test_resume_of_a_stdin_run_refuses_other_data_and_finishes_the_same(tmp_path, monkeypatch):
    import importlib

    process_module = importlib.import_module("pipeline.batch.process")
    runner, out = CliRunner(), tmp_path / "out.jsonl"
    command = ["process", "--out", str(out), "--quiet", "--chunk-size", "1"]
    same = "\n".join(SENTENCES[:3]) + "\n"
    expected = runner.invoke(app, ["process", "--out", str(tmp_path / "expected.jsonl"), "--quiet"], input=same)
    assert expected.exit_code == 0, expected.output
    merge, calls = process_module._merge, []

    def interrupted_after_one_chunk(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return merge(*args)

    monkeypatch.setattr(process_module, "_merge", interrupted_after_one_chunk)
    assert runner.invoke(app, command, input=same).exit_code == 130
    monkeypatch.setattr(process_module, "_merge", merge)
    other = runner.invoke(app, command + ["--resume"], input="\n".join(SENTENCES[1:]) + "\n")
    assert other.exit_code == 2 and "cannot resume" in other.output and "stdin" in other.output
    resumed = runner.invoke(app, command + ["--resume"], input=same)
    assert resumed.exit_code == 0, resumed.output
    assert out.read_bytes() == (tmp_path / "expected.jsonl").read_bytes()
