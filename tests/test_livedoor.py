"""The livedoor news corpus reader: clean body sentences, counted drops, and refusals that name the file."""

import hashlib
import re
import tarfile
from pathlib import Path

import pytest

from pipeline.corpus.livedoor import (
    ARCHIVE_NAME,
    LINE_REASONS,
    SENTENCE_REASONS,
    livedoor_sentences,
    livedoor_statistics,
    read_livedoor,
    split_sentences,
)
from pipeline.errors import ChecksumError, CorpusFormatError, CorpusNotFoundError

HEADER = "http://news.livedoor.com/article/detail/{n}/\n2012-04-27T07:55:00+0900\nタイトル{n}\n"
ARTICLE_A = HEADER.format(n=1) + (
    "今日は晴れです。明日は雨でしょう！\n"
    "\n"
    "■今日のポイント\n"
    "・リスト項目です。\n"
    "※注意書きです。\n"
    "詳しくは http://example.com/ をご覧ください。\n"
    "2012年5月1日（火）\n"
    "価格：無料\n"
    "RAM 1GB\n"
    "【応募方法】\n"
    "彼は「すごい！」と叫んだ。（文：山田）\n"
    "はい。\n"
    "■関連リンク\n"
    "そのあとに続く本文らしき文です。\n"
    "・関連記事の題\n"
)
ARTICLE_B = HEADER.format(n=2) + "今日は晴れです。\n「ほんとうにそうかな」\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _text_tree(root: Path, articles: dict[str, str], licences=True, readme=True) -> dict[str, bytes]:
    files = {"text/CHANGES.txt": "変更履歴\n".encode()}
    if readme:
        files["text/README.txt"] = "livedoor ニュースコーパス\n".encode()
    for name, text in articles.items():
        files[f"text/{name}"] = text.encode()
        if licences:
            files[f"text/{name.split('/')[0]}/LICENSE.txt"] = "表示 - 改変禁止\n".encode()
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def _corpus(tmp_path: Path, articles: dict[str, str], **tree) -> Path:
    """A folder like corpora/livedoor: the archive of text/ and SHA256SUMS (members, then the archive)."""
    src, out = tmp_path / "src", tmp_path / "livedoor"
    out.mkdir(parents=True)
    files = _text_tree(src, articles, **tree)
    archive = out / ARCHIVE_NAME
    with tarfile.open(archive, "w:xz") as tar:
        for name in sorted(files):
            tar.add(src / name, arcname=name)
    lines = [f"{_sha(files[name])}  {name}" for name in sorted(files)]
    lines.append(f"{_sha(archive.read_bytes())}  {ARCHIVE_NAME}")
    (out / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return out


def _restamp_archive(folder: Path) -> None:
    """SHA256SUMS's last line made to match the archive as it is now (members' lines unchanged)."""
    sums = folder / "SHA256SUMS"
    lines = sums.read_text().splitlines()
    lines[-1] = f"{_sha((folder / ARCHIVE_NAME).read_bytes())}  {ARCHIVE_NAME}"
    sums.write_text("\n".join(lines) + "\n")


def test_articles_keep_header_fields_and_only_clean_body_sentences(tmp_path):
    corpus = read_livedoor(_corpus(tmp_path, {"peachy/peachy-1.txt": ARTICLE_A, "smax/smax-2.txt": ARTICLE_B}))
    first, second = corpus.articles
    assert (first.channel, first.id, first.title) == ("peachy", "peachy-1", "タイトル1")
    assert first.url == "http://news.livedoor.com/article/detail/1/" and first.date.startswith("2012-04-27")
    assert first.sentences == ("今日は晴れです。", "明日は雨でしょう！", "彼は「すごい！」と叫んだ。")
    # the second article's first sentence repeats the first article's; a lone quotation is a sentence
    assert second.sentences == ("「ほんとうにそうかな」",)
    assert list(corpus.sentences()) == list(livedoor_sentences(corpus.source.parent))


def test_every_dropped_line_and_sentence_is_counted_by_reason(tmp_path):
    counts = read_livedoor(_corpus(tmp_path, {"peachy/peachy-1.txt": ARTICLE_A, "smax/smax-2.txt": ARTICLE_B})).counts
    dropped = {reason: counts[f"dropped_{reason}"] for reason in LINE_REASONS + SENTENCE_REASONS}
    assert dropped == {
        "footer": 3,  # the 関連リンク line and the two after it
        "url": 1,
        "date": 1,
        "list": 3,  # ■ heading, ・ item, ※ note
        "heading": 1,
        "spec": 1,
        "fragment": 1,  # RAM 1GB
        "short": 1,  # はい。
        "aside": 1,  # （文：山田）
        "duplicates": 1,  # 今日は晴れです。 again in the second article
    }
    assert counts["articles"] == 2 and counts["channels"] == 2
    assert counts["raw_lines"] == 16  # non-empty body lines
    assert counts["raw_lines"] == counts["lines_split"] + sum(counts[f"dropped_{r}"] for r in LINE_REASONS)
    assert counts["sentences_split"] == counts["sentences_kept"] + sum(counts[f"dropped_{r}"] for r in SENTENCE_REASONS)
    assert counts["sentences_kept"] == 4
    assert counts["characters_kept"] == len(
        "今日は晴れです。明日は雨でしょう！彼は「すごい！」と叫んだ。「ほんとうにそうかな」"
    )


def test_sentences_end_after_end_marks_with_their_closing_quotes_not_inside_quotations():
    assert split_sentences("本当？！嘘でしょ。。そうか!?") == ["本当？！", "嘘でしょ。。", "そうか!?"]
    assert split_sentences("「行こう。今すぐ！」と彼。次だ。") == ["「行こう。今すぐ！」と彼。", "次だ。"]
    assert split_sentences("映画（写真。右）を見た。") == ["映画（写真。右）を見た。"]
    # an unbalanced quotation cannot nest: the end marks cut, the closing quote stays with its sentence
    assert split_sentences("終わりだ！」と言った。") == ["終わりだ！」", "と言った。"]
    assert split_sentences("文の終わりがない") == ["文の終わりがない"]


def test_an_unpacked_folder_and_the_environment_variable_are_read_too(tmp_path, monkeypatch):
    folder = tmp_path / "unpacked"
    files = _text_tree(folder, {"smax/smax-1.txt": ARTICLE_B})
    (folder / "SHA256SUMS").write_text("".join(f"{_sha(data)}  {name}\n" for name, data in sorted(files.items())))
    assert read_livedoor(folder).articles[0].sentences == ("今日は晴れです。", "「ほんとうにそうかな」")
    monkeypatch.setenv("KNBC_LIVEDOOR", str(folder))
    assert read_livedoor().counts["articles"] == 1


def test_a_missing_corpus_is_refused_naming_where_it_was_looked_for(tmp_path, monkeypatch):
    with pytest.raises(CorpusNotFoundError, match=r"livedoor corpus not found at .*nowhere.*KNBC_LIVEDOOR"):
        read_livedoor(tmp_path / "nowhere")
    monkeypatch.setenv("KNBC_LIVEDOOR", str(tmp_path / "elsewhere"))
    with pytest.raises(CorpusNotFoundError, match="elsewhere"):
        read_livedoor()
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusNotFoundError, match=rf"neither {ARCHIVE_NAME} nor a text/ folder"):
        read_livedoor(tmp_path / "empty")


def test_a_channel_without_its_licence_is_refused_naming_the_missing_file(tmp_path):
    folder = _corpus(tmp_path, {"smax/smax-1.txt": ARTICLE_B}, licences=False)
    with pytest.raises(CorpusFormatError, match=r"text/smax/LICENSE\.txt: missing: channel smax") as err:
        read_livedoor(folder, verify=False)  # refused even unverified
    assert "\n" not in str(err.value)


def test_a_corpus_without_its_readme_is_refused(tmp_path):
    folder = _corpus(tmp_path, {"smax/smax-1.txt": ARTICLE_B}, readme=False)
    with pytest.raises(CorpusFormatError, match=r"text/README\.txt: missing"):
        read_livedoor(folder)


def test_a_member_with_a_wrong_checksum_is_refused_naming_it_and_the_sums_line(tmp_path):
    folder = _corpus(tmp_path, {"smax/smax-1.txt": ARTICLE_B})
    sums = folder / "SHA256SUMS"
    sums.write_text(re.sub(r"^\w+(?=  text/smax/smax-1\.txt)", "0" * 64, sums.read_text(), flags=re.M))
    with pytest.raises(ChecksumError, match=r"text/smax/smax-1\.txt: SHA-256 \w+ does not match SHA256SUMS line 4"):
        read_livedoor(folder)
    assert read_livedoor(folder, verify=False).counts["articles"] == 1


def test_an_altered_archive_is_refused_against_the_last_line_of_the_sums(tmp_path):
    folder = _corpus(tmp_path, {"smax/smax-1.txt": ARTICLE_B})
    with tarfile.open(folder / ARCHIVE_NAME, "w:xz") as tar:  # repacked with an edited article
        src = tmp_path / "src"
        (src / "text/smax/smax-1.txt").write_text(ARTICLE_B + "書き足した一文です。\n")
        for path in sorted(p for p in src.rglob("*") if p.is_file()):
            tar.add(path, arcname=path.relative_to(src).as_posix())
    with pytest.raises(ChecksumError, match=rf"{ARCHIVE_NAME}: SHA-256 \w+ does not match SHA256SUMS line 5"):
        read_livedoor(folder)
    _restamp_archive(folder)  # the archive's own sum made right: the edited member is still caught
    with pytest.raises(ChecksumError, match=r"text/smax/smax-1\.txt: SHA-256 \w+ does not match SHA256SUMS line 4"):
        read_livedoor(folder)


def test_a_truncated_archive_is_refused_naming_it(tmp_path):
    folder = _corpus(tmp_path, {"smax/smax-1.txt": ARTICLE_B * 50})
    archive = folder / ARCHIVE_NAME
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(CorpusFormatError, match=rf"{ARCHIVE_NAME}: cannot read the corpus archive"):
        read_livedoor(folder, verify=False)


def test_an_article_file_without_url_date_and_title_is_refused_naming_the_file_and_line(tmp_path):
    folder = _corpus(
        tmp_path, {"smax/smax-1.txt": ARTICLE_B, "smax/smax-9.txt": "http://x/9/\n2012-01-01T00:00:00+0900\n"}
    )
    with pytest.raises(CorpusFormatError, match=r"text/smax/smax-9\.txt:3: .*URL, date and title.*has 2 lines"):
        read_livedoor(folder)
    folder = _corpus(tmp_path / "b", {"smax/smax-1.txt": "タイトル\n本文。\nもう一行。\n"})
    with pytest.raises(CorpusFormatError, match=r"text/smax/smax-1\.txt:1: expected the article's URL"):
        read_livedoor(folder)


def test_an_unlisted_file_in_the_archive_is_refused(tmp_path):
    folder = _corpus(tmp_path, {"smax/smax-1.txt": ARTICLE_B, "smax/smax-2.txt": ARTICLE_B})
    sums = folder / "SHA256SUMS"
    sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines() if "smax-2" not in line))
    with pytest.raises(ChecksumError, match=r"text/smax/smax-2\.txt: not listed in SHA256SUMS"):
        read_livedoor(folder)


def test_the_shipped_corpus_reads_whole_verified_and_clean():
    stats = livedoor_statistics()
    assert stats["articles"] == 7367 and stats["channels"] == 9
    assert stats["raw_lines"] == 132_876  # non-empty body lines, as PROVENANCE.md counts them
    assert stats["raw_lines"] == stats["lines_split"] + sum(stats[f"dropped_{r}"] for r in LINE_REASONS)
    assert stats["sentences_split"] == stats["sentences_kept"] + sum(stats[f"dropped_{r}"] for r in SENTENCE_REASONS)
    corpus = read_livedoor(verify=False)
    assert len({article.channel for article in corpus.articles}) == 9
    sentences = list(corpus.sentences())
    assert len(sentences) == stats["sentences_kept"] == len(set(sentences))
    assert sum(map(len, sentences)) == stats["characters_kept"]
    assert not [s for s in sentences if re.search(r"https?://|www\.", s)]
    assert min(map(len, sentences)) >= 5
