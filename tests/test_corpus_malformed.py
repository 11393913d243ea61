"""Small synthetic corpora: every malformed input gets an error naming the file, line and expectation."""

import hashlib
import tarfile

import pytest

from pipeline.corpus import load_corpus
from pipeline.corpus.knp import parse_knp
from pipeline.corpus.reputation import parse_reputation_tsv
from pipeline.errors import ChecksumError, CorpusFormatError, CorpusNotFoundError

TITLE = """# S-ID:KN900_Keitai_1-1-1-01 KNP:2008/04/21
* -1D <BGH:携帯/けいたい>
［ ［ ［ 特殊 1 括弧始 3 * 0 * 0 NIL <文頭>
携帯 けいたい 携帯 名詞 6 サ変名詞 2 * 0 * 0 "代表表記:携帯/けいたい" <自立>
電話 でんわ 電話 名詞 6 サ変名詞 2 * 0 * 0 NIL <自立>
］ ］ ］ 特殊 1 括弧終 4 * 0 * 0 NIL <付属>
京都 きょうと 京都 名詞 6 地名 4 * 0 * 0 NIL <NE:LOCATION:single>
EOS
"""
BODY = """# S-ID:KN900_Keitai_1-1-2-01 KNP:2008/04/21
* 1D <係:ガ格><C用;【京都】;ガ;0;1;9.999:KN900_Keitai_1-1-2-01(同一文):1タグ>
京都 きょうと 京都 名詞 6 地名 4 * 0 * 0 NIL <NE:ORGANIZATION:head>
市 し 市 接尾辞 14 名詞性特殊接尾辞 4 * 0 * 0 NIL <NE:ORGANIZATION:tail>
が が が 助詞 9 格助詞 1 * 0 * 0 NIL <付属>
* -1D <文末>
好きだ すきだ 好きだ 形容詞 3 * 0 ナ形容詞 21 基本形 2 NIL <自立>
EOS
"""
TSV = (
    "KN900_Keitai_1-1-1-01\t［携帯電話］京都\t\t\t\t\n"
    "KN900_Keitai_1-1-2-01\t京都市が好きだ\t[著者]\\n[著者]\t京都市が好きだ\\n好きだ\t感情＋\\n当為\t京都市\\n[京都市]\n"
)


def write_corpus(root, title=TITLE, body=BODY, tsv=TSV, encoding="utf-8"):
    article = root / "corpus1" / "KN900_Keitai_1"
    article.mkdir(parents=True)
    (article / "KN900_Keitai_1-1-1-01").write_bytes(title.encode(encoding))
    (article / "KN900_Keitai_1-1-2-01").write_bytes(body.encode(encoding))
    (root / "corpus2").mkdir()
    (root / "corpus2" / "Keitai.tsv").write_bytes(tsv.encode(encoding))
    return root


def test_a_well_formed_synthetic_corpus_reads(tmp_path):
    corpus = load_corpus(write_corpus(tmp_path))
    title, body = corpus.sentences
    assert title.is_title and title.text == "京都" and title.raw_text == "［携帯電話］京都"
    assert [(e.label, e.start, e.end) for e in title.entities] == [("LOCATION", 0, 2)]
    assert [(e.label, e.text) for e in body.entities] == [("ORGANIZATION", "京都市")]
    assert [b.head for b in body.knp.bunsetsu] == [1, -1]
    assert body.knp.tags[0].case_relations[0].relation == "ガ"
    assert [r.label for r in body.reputations] == ["感情+", "当為"]
    assert body.sentiment == "positive"  # 当為 carries no polarity
    assert body.knp.morphemes[3].conj_form == "基本形"


def test_missing_eos_names_file_and_line(tmp_path):
    with pytest.raises(CorpusFormatError, match=r"KN900_Keitai_1-1-2-01:7: missing 'EOS'"):
        load_corpus(write_corpus(tmp_path, body=BODY.replace("EOS\n", "")))


def test_truncated_morpheme_line(tmp_path):
    broken = BODY.replace("が が が 助詞 9 格助詞 1 * 0 * 0 NIL <付属>", "が が が 助詞 9")
    with pytest.raises(CorpusFormatError, match=r"KN900_Keitai_1-1-2-01:5: expected a morpheme line"):
        load_corpus(write_corpus(tmp_path, body=broken))


def test_wrong_encoding_names_file_and_line(tmp_path):
    with pytest.raises(CorpusFormatError, match=r"KN900_Keitai_1-1-1-01:2: not valid UTF-8 at byte 55.*EUC-JP"):
        load_corpus(write_corpus(tmp_path, encoding="euc_jp"))


def test_unknown_reputation_type(tmp_path):
    with pytest.raises(CorpusFormatError, match=r"Keitai.tsv:2: unknown 評判 type '感情\?'"):
        load_corpus(write_corpus(tmp_path, tsv=TSV.replace("感情＋", "感情?")))


def test_ascii_plus_is_not_the_polarity_mark():
    with pytest.raises(CorpusFormatError, match="unknown 評判 type '批評\\+'"):
        parse_reputation_tsv("KN900_Keitai_1-1-2-01\tよい\t[著者]\tよい\t批評+\t[x]\n", "x.tsv")


def test_wrong_column_count(tmp_path):
    with pytest.raises(CorpusFormatError, match=r"Keitai.tsv:1: expected 6 tab-separated columns.*found 5"):
        load_corpus(write_corpus(tmp_path, tsv="KN900_Keitai_1-1-1-01\t［携帯電話］京都\t\t\t\n"))


def test_mismatched_annotation_counts():
    line = "KN900_Keitai_1-1-2-01\tよい\t[著者]\\n[著者]\tよい\t批評＋\t[x]\n"
    with pytest.raises(CorpusFormatError, match=r"x.tsv:1: .*different numbers of annotations \(2, 1, 1, 1\)"):
        parse_reputation_tsv(line, "x.tsv")


def test_bad_sentence_id(tmp_path):
    with pytest.raises(CorpusFormatError, match=r"Keitai.tsv:1: unexpected sentence id 'XYZ'"):
        load_corpus(write_corpus(tmp_path, tsv="XYZ\tよい\t\t\t\t\n"))


def test_missing_header():
    with pytest.raises(CorpusFormatError, match=r"f:1: expected a '# S-ID:...' header"):
        parse_knp(BODY.split("\n", 1)[1], "f")


def test_bad_dependency_line():
    with pytest.raises(CorpusFormatError, match=r"f:2: expected '\* <head><D\|P\|A\|I>"):
        parse_knp(BODY.replace("* 1D", "* 1X"), "f")


def test_empty_file():
    with pytest.raises(CorpusFormatError, match="f:1: empty file"):
        parse_knp("", "f")


def test_text_after_eos():
    with pytest.raises(CorpusFormatError, match="f:9: expected nothing after 'EOS'"):
        parse_knp(BODY + "extra\n", "f")


def test_unknown_entity_type():
    with pytest.raises(CorpusFormatError, match=r"f:3: unknown named-entity type 'CITY'"):
        parse_knp(BODY.replace("NE:ORGANIZATION:head", "NE:CITY:head"), "f")


def test_entity_slips_are_mended_and_recorded():
    sentence = parse_knp(BODY.replace("<NE:ORGANIZATION:head>", "<付属>"), "f")
    assert [(e.label, e.text) for e in sentence.entities] == [("ORGANIZATION", "市")]
    assert sentence.repairs == ["line 4: <NE:ORGANIZATION:tail> without its head; the entity starts here"]


def test_missing_corpus_folder(tmp_path):
    with pytest.raises(CorpusNotFoundError, match="KNB corpus not found at .*nowhere"):
        load_corpus(tmp_path / "nowhere")


def test_folder_without_corpus2(tmp_path):
    write_corpus(tmp_path)
    (tmp_path / "corpus2" / "Keitai.tsv").unlink()
    (tmp_path / "corpus2").rmdir()
    with pytest.raises(CorpusNotFoundError, match="no corpus2/ folder"):
        load_corpus(tmp_path)


def test_archive_checksums(tmp_path):
    root = write_corpus(tmp_path / "knbc")
    sums = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  ./{p.relative_to(root).as_posix()}\n"
        for p in sorted(root.rglob("*"))
        if p.is_file()
    )
    (root / "SHA256SUMS").write_text(sums)
    archive = tmp_path / "knbc.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(root, arcname="knbc")
    assert len(load_corpus(archive).sentences) == 2
    (root / "SHA256SUMS").write_text(sums.replace(sums[:8], "00000000", 1))
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(root, arcname="knbc")
    with pytest.raises(ChecksumError, match="does not match SHA256SUMS line 1"):
        load_corpus(archive)
    archive.write_bytes(b"not an archive")
    with pytest.raises(CorpusFormatError, match="cannot read the corpus archive"):
        load_corpus(archive)


def test_shipped_archive_sum_is_checked(tmp_path):
    from pipeline.corpus.archive import CORPUS_DIR

    copy = tmp_path / "knbc-v1.0.tar.xz"
    copy.write_bytes((CORPUS_DIR / "knbc-v1.0.tar.xz").read_bytes())
    (tmp_path / "knbc-v1.0.tar.xz.sha256").write_text("0" * 64 + "  knbc-v1.0.tar.xz\n")
    with pytest.raises(ChecksumError, match="does not match knbc-v1.0.tar.xz.sha256"):
        load_corpus(copy)
