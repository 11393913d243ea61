"""Parser for KNBC corpus1: one sentence per file in the KNP (Kyoto Corpus) format.

A file holds one sentence::

    # S-ID:KN001_Keitai_1-1-1-01 KNP:... MOD:...
    * 1D <features>          bunsetsu start; also the first tag unit of the bunsetsu
    morpheme line ...        surface reading lemma POS id subPOS id conjtype id conjform id ["imis"|NIL] <features>
    + -1D <features>         a further tag unit (基本句) inside the current bunsetsu
    morpheme line ...
    EOS

In this corpus every ``*`` and every ``+`` line opens one tag unit, and the heads on those lines
index tag units (not bunsetsu). Bunsetsu heads are derived from the head of their last tag unit.
Named entities are marked per morpheme as ``<NE:TYPE:head|middle|tail|single>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.errors import CorpusFormatError

DEPENDENCY_TYPES = frozenset("DPAI")
NE_TYPES = frozenset(
    ["ARTIFACT", "DATE", "LOCATION", "MONEY", "OPTIONAL", "ORGANIZATION", "PERCENT", "PERSON", "TIME"]
)
_FEATURE = re.compile(r"<((?:[^<>]|<[^<>]*>)*)>")
_UNIT_LINE = re.compile(r"^([*+]) (-?\d+)([A-Z])(?: (.*))?$")
_NE_MORPHEME = re.compile(r"^NE:([A-Z]+):(head|middle|tail|single)$")
_MORPHEME_LINE = re.compile(
    r"^(?P<prefix>.+?) (?P<pos>\S+) (?P<pos_id>\d+) (?P<sub>\S+) (?P<sub_id>\d+)"
    r"(?: (?P<ctype>\S+)(?: (?P<ctype_id>\d+) (?P<cform>\S+) (?P<cform_id>\d+))?)?(?: (?P<rest>(?:\"|NIL|<).*))?\s*$"
)
_CASE = re.compile(r"^C用;【(?P<target>.*)】;(?P<relation>[^;]*);(?P<distance>-?\d+);(?P<tag>-?\d+);(?P<rest>.*)$")


@dataclass
class Morpheme:
    """One JUMAN morpheme with its character offsets in the sentence text."""

    surface: str
    reading: str
    lemma: str
    pos: str
    sub_pos: str
    conj_type: str
    conj_form: str
    imis: str | None
    features: list[str]
    start: int
    end: int
    tag: int
    bunsetsu: int
    ne: str | None = None  # e.g. "LOCATION:head"


@dataclass
class CaseRelation:
    """A case, ellipsis or coreference relation (a ``<C用;...>`` feature) of a tag unit."""

    relation: str  # ガ, ヲ, ニ, =, =≒, ...
    target: str  # the antecedent's text, or a special such as 不特定:人
    sentence_distance: int  # 0 same sentence, 1 previous sentence, -1 outside the text
    target_tag: int  # tag index in the target sentence, -1 when outside the text
    raw: str


@dataclass
class TagUnit:
    """One tag unit (基本句) with its dependency head (a tag index, -1 for the root)."""

    index: int
    head: int
    dep_type: str
    bunsetsu: int
    morpheme_start: int
    morpheme_end: int
    features: list[str]
    case_relations: list[CaseRelation]


@dataclass
class Bunsetsu:
    """One bunsetsu (文節) with its dependency head (a bunsetsu index, -1 for the root)."""

    index: int
    head: int
    dep_type: str
    tag_start: int
    tag_end: int
    morpheme_start: int
    morpheme_end: int
    features: list[str]


@dataclass
class Entity:
    """A named entity (IREX type) as a character span of the sentence text."""

    label: str
    start: int
    end: int
    text: str


@dataclass
class KnpSentence:
    """A parsed corpus1 sentence: morphemes, tag units, bunsetsu and named entities."""

    sid: str
    path: str
    header: dict[str, str]
    morphemes: list[Morpheme] = field(default_factory=list)
    tags: list[TagUnit] = field(default_factory=list)
    bunsetsu: list[Bunsetsu] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)  # slips in the data mended while reading

    @property
    def text(self) -> str:
        """The sentence text: the morpheme surfaces joined."""
        return "".join(m.surface for m in self.morphemes)


def split_features(text: str) -> list[str]:
    """Split ``<a><b:c>...`` into ``["a", "b:c", ...]``."""
    return _FEATURE.findall(text or "")


def _parse_header(line: str, path: str, lineno: int) -> tuple[str, dict[str, str]]:
    if not line.startswith("# S-ID:"):
        raise CorpusFormatError(path, lineno, f"expected a '# S-ID:...' header line, found {line[:40]!r}")
    header: dict[str, str] = {}
    for item in line[2:].split(" "):
        key, sep, value = item.partition(":")
        if sep:
            header[key] = value
    return header["S-ID"], header


def _parse_case_relations(features: list[str]) -> list[CaseRelation]:
    relations = []
    for feature in features:
        match = _CASE.match(feature)
        if match:
            relations.append(
                CaseRelation(
                    relation=match["relation"],
                    target=match["target"],
                    sentence_distance=int(match["distance"]),
                    target_tag=int(match["tag"]),
                    raw=feature,
                )
            )
    return relations


def _split_prefix(prefix: str) -> tuple[str, str, str] | None:
    """Split 'surface reading lemma', where a surface may itself hold spaces (emoticons)."""
    parts = prefix.split(" ")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    third = (len(prefix) - 2) // 3
    if len(prefix) == 3 * third + 2 and prefix == " ".join([prefix[:third]] * 3):
        return prefix[:third], prefix[:third], prefix[:third]
    return None


def _parse_morpheme(line: str, path: str, lineno: int, repairs: list[str]) -> tuple[list[str], str | None, list[str]]:
    """Split a morpheme line into its 11 fields, the optional imis string and the features."""
    parts = line.split(" ", 11)
    if len(parts) >= 11 and all(parts[i].isdigit() for i in (4, 6, 8, 10)):  # the common case, fast
        return _split_rest(parts[:11], parts[11] if len(parts) == 12 else "", path, lineno)
    match = _MORPHEME_LINE.match(line)
    if not match:
        raise CorpusFormatError(
            path, lineno, "expected a morpheme line 'surface reading lemma POS id subPOS id conjtype id conjform id "
            f"[\"imis\"|NIL] <features>', found {line[:60]!r}"
        )
    prefix = match["prefix"]
    split = _split_prefix(prefix)
    if split is None:
        parts = prefix.split(" ")
        if len(parts) < 3:
            raise CorpusFormatError(path, lineno, f"expected surface, reading and lemma before the POS, found {prefix!r}")
        split = (parts[0], " ".join(parts[1:-1]), parts[-1])
        repairs.append(f"line {lineno}: surface/reading/lemma {prefix!r} has extra spaces; read as {split}")
    if match["cform_id"] is None:
        repairs.append(f"line {lineno}: conjugation fields missing; read as '*'")
    conjugation = [match["ctype"] or "*", match["ctype_id"] or "0", match["cform"] or "*", match["cform_id"] or "0"]
    fields = [*split, match["pos"], match["pos_id"], match["sub"], match["sub_id"], *conjugation]
    return _split_rest(fields, match["rest"] or "", path, lineno)


def _split_rest(fields: list[str], rest: str, path: str, lineno: int) -> tuple[list[str], str | None, list[str]]:
    """Read what follows the 11 fields: an optional quoted imis string (or NIL) and the features."""
    rest = rest.strip()
    imis: str | None = None
    if rest.startswith('"'):
        close = rest.find('"', 1)
        if close < 0:
            raise CorpusFormatError(path, lineno, "unterminated quoted semantic-information field")
        imis, rest = rest[1:close], rest[close + 1 :].strip()
    elif rest.startswith("NIL"):
        rest = rest[3:].strip()
    return fields, imis, split_features(rest)


def parse_knp(text: str, path: str) -> KnpSentence:
    """Parse one corpus1 file's text; ``path`` is used in error messages."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise CorpusFormatError(path, 1, "empty file: expected a '# S-ID:' header, morphemes and 'EOS'")
    sid, header = _parse_header(lines[0], path, 1)
    sentence = KnpSentence(sid=sid, path=path, header=header)
    offset = 0
    ne_open: tuple[str, int, int] | None = None  # (label, start char, line) of an entity being read
    saw_eos = False
    for lineno, line in enumerate(lines[1:], start=2):
        if saw_eos:
            if line.strip():
                raise CorpusFormatError(path, lineno, f"expected nothing after 'EOS', found {line[:40]!r}")
            continue
        if line == "EOS":
            saw_eos = True
            continue
        if line.startswith(("* ", "+ ")):
            match = _UNIT_LINE.match(line.rstrip())
            if not match or match[3] not in DEPENDENCY_TYPES:
                raise CorpusFormatError(
                    path, lineno, f"expected '* <head><D|P|A|I> <features>' or '+ ...', found {line[:60]!r}"
                )
            kind, head, dep_type, rest = match[1], int(match[2]), match[3], match[4] or ""
            features = split_features(rest)
            if kind == "*":
                sentence.bunsetsu.append(
                    Bunsetsu(
                        index=len(sentence.bunsetsu),
                        head=-1,
                        dep_type=dep_type,
                        tag_start=len(sentence.tags),
                        tag_end=len(sentence.tags),
                        morpheme_start=len(sentence.morphemes),
                        morpheme_end=len(sentence.morphemes),
                        features=features,
                    )
                )
            elif not sentence.bunsetsu:
                raise CorpusFormatError(path, lineno, "a '+' tag line before any '*' bunsetsu line")
            sentence.tags.append(
                TagUnit(
                    index=len(sentence.tags),
                    head=head,
                    dep_type=dep_type,
                    bunsetsu=len(sentence.bunsetsu) - 1,
                    morpheme_start=len(sentence.morphemes),
                    morpheme_end=len(sentence.morphemes),
                    features=features,
                    case_relations=_parse_case_relations(features),
                )
            )
            sentence.bunsetsu[-1].tag_end = len(sentence.tags)
            continue
        if line.startswith("#"):
            raise CorpusFormatError(path, lineno, "a second '#' header line: expected one sentence per file")
        if not sentence.tags:
            raise CorpusFormatError(path, lineno, "a morpheme line before any '*' bunsetsu line")
        fields, imis, features = _parse_morpheme(line, path, lineno, sentence.repairs)
        morpheme = Morpheme(
            surface=fields[0],
            reading=fields[1],
            lemma=fields[2],
            pos=fields[3],
            sub_pos=fields[5],
            conj_type=fields[7],
            conj_form=fields[9],
            imis=imis,
            features=features,
            start=offset,
            end=offset + len(fields[0]),
            tag=len(sentence.tags) - 1,
            bunsetsu=len(sentence.bunsetsu) - 1,
        )
        offset = morpheme.end
        if ne_open is not None or "<NE:" in line:
            ne_open = _read_entity_mark(sentence, morpheme, ne_open, path, lineno)
        sentence.morphemes.append(morpheme)
        sentence.tags[-1].morpheme_end = len(sentence.morphemes)
        sentence.bunsetsu[-1].morpheme_end = len(sentence.morphemes)
    if not saw_eos:
        raise CorpusFormatError(path, len(lines), "missing 'EOS' at the end of the sentence (truncated file?)")
    if ne_open is not None:
        sentence.repairs.append(f"line {ne_open[2]}: {ne_open[0]} entity without its tail; closed at the end")
        _add_entity(sentence, ne_open[0], ne_open[1], offset)
    if not sentence.morphemes:
        raise CorpusFormatError(path, 1, "a sentence with no morphemes")
    _check_heads(sentence, path)
    return sentence


def _read_entity_mark(
    sentence: KnpSentence, morpheme: Morpheme, ne_open: tuple[str, int, int] | None, path: str, lineno: int
) -> tuple[str, int, int] | None:
    """Follow the head/middle/tail/single marks; append finished entities; return the open one.

    The corpus has a few annotation slips (a tail without its head, a head without its tail, a
    mark given twice). They are mended the way lenient IOB decoding does, and each mending is
    recorded in ``sentence.repairs``.
    """
    marks = list({m[0]: m for m in (_NE_MORPHEME.match(f) for f in morpheme.features) if m}.values())
    if len(marks) < sum(1 for f in morpheme.features if _NE_MORPHEME.match(f)):
        sentence.repairs.append(f"line {lineno}: the same <NE:...> mark twice; kept once")
    if len(marks) > 1:
        # a mark continuing the open entity wins over a conflicting one (seen: <single><tail>)
        continuing = [m for m in marks if ne_open and m[1] == ne_open[0] and m[2] in ("middle", "tail")]
        if len(continuing) != 1:
            raise CorpusFormatError(path, lineno, "conflicting <NE:...> marks on one morpheme")
        dropped = ", ".join(m[0] for m in marks if m is not continuing[0])
        sentence.repairs.append(f"line {lineno}: kept <{continuing[0][0]}>, dropped conflicting <{dropped}>")
        marks = continuing
    label, position = (marks[0][1], marks[0][2]) if marks else (None, None)
    if label is not None and label not in NE_TYPES:
        raise CorpusFormatError(path, lineno, f"unknown named-entity type {label!r}; expected one of {sorted(NE_TYPES)}")
    continues = ne_open is not None and position in ("middle", "tail") and label == ne_open[0]
    if ne_open is not None and not continues:
        sentence.repairs.append(f"line {ne_open[2]}: {ne_open[0]} entity without its tail; closed before line {lineno}")
        _add_entity(sentence, ne_open[0], ne_open[1], morpheme.start)
        ne_open = None
    if label is None:
        return None
    morpheme.ne = f"{label}:{position}"
    if ne_open is None and position in ("middle", "tail"):
        sentence.repairs.append(f"line {lineno}: <NE:{label}:{position}> without its head; the entity starts here")
    start = ne_open[1] if ne_open is not None else morpheme.start
    if position in ("single", "tail"):
        _add_entity(sentence, label, start, morpheme.end)
        return None
    return (label, start, ne_open[2] if ne_open is not None else lineno)


def _add_entity(sentence: KnpSentence, label: str, start: int, end: int) -> None:
    # the text is filled in by _check_heads, once every morpheme is read
    sentence.entities.append(Entity(label=label, start=start, end=end, text=""))


def _check_heads(sentence: KnpSentence, path: str) -> None:
    """Validate tag heads (mending one out of range), derive bunsetsu heads, fill entity texts."""
    n_tags = len(sentence.tags)
    roots = [tag.index for tag in sentence.tags if tag.head == -1]
    if not roots:
        raise CorpusFormatError(path, None, "no tag unit with head -1 (the root)")
    for tag in sentence.tags:
        if not -1 <= tag.head < n_tags or tag.head == tag.index:
            sentence.repairs.append(
                f"tag unit {tag.index} has head {tag.head}, outside 0..{n_tags - 1}; attached to the root {roots[-1]}"
            )
            tag.head = roots[-1]
    for bunsetsu in sentence.bunsetsu:
        if bunsetsu.tag_start == bunsetsu.tag_end:
            raise CorpusFormatError(path, None, f"bunsetsu {bunsetsu.index} has no tag unit")
        last = sentence.tags[bunsetsu.tag_end - 1]
        bunsetsu.head = -1 if last.head < 0 else sentence.tags[last.head].bunsetsu
        bunsetsu.dep_type = last.dep_type
    text = sentence.text
    for entity in sentence.entities:
        entity.text = text[entity.start : entity.end]
