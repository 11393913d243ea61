"""Generation metrics, the Kneser–Ney n-gram LM and the keyword retrieval baseline, against hand-computed values."""

import math
import random

import pytest

from pipeline.evaluation.generation_metrics import bleu, char_bleu, chrf, distinct_n, generation_scores
from pipeline.evaluation.ngram_lm import KneserNeyLM
from pipeline.evaluation.retrieval import KeywordRetriever

# --- chrF -------------------------------------------------------------------------------------------


def test_chrf_perfect_and_disjoint():
    assert chrf(["今日は晴れです。"], ["今日は晴れです。"]) == pytest.approx(100)
    assert chrf(["猫"], ["犬"]) == 0.0


def test_chrf_partial_hand_computed():
    # orders 1, 2: P = R = (2/3 + 1/2) / 2 = 7/12
    assert chrf(["abc"], ["abd"], n=2) == pytest.approx(100 * 7 / 12)
    # order 3 counts too (both have one trigram, no match): P = R = (2/3 + 1/2 + 0) / 3
    assert chrf(["abc"], ["abd"]) == pytest.approx(100 * 7 / 18)
    # P = 1, R = (2/4 + 1/3) / 2 = 5/12; F2 = 5 * P * R / (4 * P + R) = 25/53
    assert chrf(["ab"], ["abcd"], n=2) == pytest.approx(100 * 25 / 53)


def test_chrf_ignores_whitespace_and_pools_the_corpus():
    assert chrf(["猫 が 好き"], ["猫が好き"]) == pytest.approx(100)
    # corpus statistics are summed, not sentence scores averaged: unigrams P = R = 3/4 (one pair matches 1 of 2)
    assert chrf(["ab", "cd"], ["ab", "ce"], n=1) == pytest.approx(75)


def test_chrf_skips_orders_a_reference_is_too_short_for():
    # unigrams P = 3/5, R = 1; bigrams only from the second pair (reference "a" has none): P = R = 1
    # P = 0.8, R = 1: F2 = 5 * 0.8 / (4 * 0.8 + 1)
    assert chrf(["abc", "xy"], ["a", "xy"], n=2) == pytest.approx(100 * 4 / 4.2)


# --- BLEU -------------------------------------------------------------------------------------------


def test_bleu_perfect_and_disjoint():
    assert bleu([["今日", "は", "晴れ", "です"]], [["今日", "は", "晴れ", "です"]]) == pytest.approx(100)
    assert char_bleu(["今日は晴れです"], ["今日は晴れです"]) == pytest.approx(100)
    assert char_bleu(["あいうえお"], ["かきくけこ"]) == 0.0


def test_bleu_partial_hand_computed():
    hyp, ref = [list("abcd")], [list("abce")]
    # p1..p4 = 3/4, 2/3, 1/2 and no 4-gram match: exp smoothing gives 1/(2 * 1)
    assert bleu(hyp, ref) == pytest.approx(100 * (3 / 4 * 2 / 3 * 1 / 2 * 1 / 2) ** 0.25)
    assert bleu(hyp, ref, smooth=False) == 0.0
    # brevity penalty exp(1 - 4/2) with perfect precisions
    assert bleu([["a", "b"]], [["a", "b", "c", "d"]], max_n=2) == pytest.approx(100 * math.exp(-1))
    # clipped counts: "the" matches once only
    assert bleu([["the", "the", "the"]], [["the", "cat"]], max_n=1) == pytest.approx(100 / 3)


def test_bleu_zero_when_hypotheses_are_shorter_than_max_n():
    assert char_bleu(["猫"], ["猫"]) == 0.0
    assert char_bleu(["猫"], ["猫"], max_n=1) == pytest.approx(100)


def test_lengths_must_match():
    with pytest.raises(ValueError):
        chrf(["a"], [])
    with pytest.raises(ValueError):
        bleu([["a"]], [])


def test_agrees_with_sacrebleu():
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps = ["猫が魚を食べた。", "今日は とても 暑い です", "携帯電話を新しく買いました。", "空"]
    refs = ["猫は魚を食べる。", "今日はとても暑かった。", "新しい携帯電話を買った。", "青い空"]
    tokens_hyp = [
        h.split() for h in ["猫 が 魚 を 食べ た 。", "今日 は とても 暑い です", "携帯 電話 を 買い まし た"]
    ]
    tokens_ref = [
        r.split() for r in ["猫 は 魚 を 食べる 。", "今日 は とても 暑かっ た 。", "新しい 携帯 電話 を 買っ た 。"]
    ]
    assert chrf(hyps, refs) == pytest.approx(sacrebleu.CHRF().corpus_score(hyps, [refs]).score, abs=0.5)
    char_reference = sacrebleu.BLEU(tokenize="char").corpus_score(hyps, [refs]).score
    assert char_bleu(hyps, refs) == pytest.approx(char_reference, abs=0.5)
    joined_hyp, joined_ref = [" ".join(t) for t in tokens_hyp], [" ".join(t) for t in tokens_ref]
    token_reference = sacrebleu.BLEU(tokenize="none").corpus_score(joined_hyp, [joined_ref]).score
    assert bleu(tokens_hyp, tokens_ref) == pytest.approx(token_reference, abs=0.5)


# --- distinct-n and the aggregate ------------------------------------------------------------------


def test_distinct_n():
    outputs = [["a", "b", "a"], ["a", "c"]]
    assert distinct_n(outputs, 1) == pytest.approx(3 / 5)
    assert distinct_n(outputs, 2) == pytest.approx(1.0)
    assert distinct_n([["a", "b"], ["a", "b"]], 2) == pytest.approx(1 / 2)
    assert distinct_n([["a"]], 2) == 0.0


def test_generation_scores_keys():
    assert set(generation_scores(["猫"], ["猫"])) == {"chrf", "char_bleu"}
    scores = generation_scores(["猫が"], ["猫が"], [["猫", "が"]], [["猫", "が"]])
    assert set(scores) == {"chrf", "char_bleu", "token_bleu", "distinct_1", "distinct_2", "repetition"}
    assert scores["chrf"] == pytest.approx(100)
    assert scores["distinct_1"] == pytest.approx(1.0)


# --- Kneser–Ney LM ------------------------------------------------------------------------------------


def _toy_sentences(count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    subjects, objects, verbs = (
        ["猫", "犬", "私", "彼", "友達"],
        ["魚", "肉", "本", "映画", "ご飯"],
        ["食べる", "見る", "好む"],
    )
    return [[rng.choice(subjects), "が", rng.choice(objects), "を", rng.choice(verbs), "。"] for _ in range(count)]


def test_kn_unigram_hand_computed():
    lm = KneserNeyLM(order=1, min_count=1).fit([["a"]])
    # counts a:1, </s>:1 (fallback D1 = 0.5), vocabulary {a, </s>, <unk>}: (1 - 0.5)/2 + (1/2)(1/3)
    assert lm.prob([], "a") == pytest.approx(5 / 12)
    assert lm.prob([], "</s>") == pytest.approx(5 / 12)
    assert lm.prob([], "zzz") == pytest.approx(1 / 6)


def test_kn_bigram_hand_computed():
    lm = KneserNeyLM(order=2, min_count=1).fit([["a", "b"], ["a"]])
    # unigram continuation counts a:1 b:1 </s>:2, total 4, freed 2 over |V| = 4 -> p(b) = 0.5/4 + 0.5/4
    assert lm.prob([], "b") == pytest.approx(0.25)
    # after "a": b:1 </s>:1, total 2, freed 1
    assert lm.prob(["<s>", "a"], "b") == pytest.approx(0.5 / 2 + 0.5 * 0.25)
    # after "<s>": raw count a:2 (D2 = 1)
    assert lm.prob(["<s>"], "a") == pytest.approx(1 / 2 + 0.5 * 0.25)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("min_count", [1, 2])
def test_kn_probabilities_sum_to_one(order, min_count):
    train = _toy_sentences(200, seed=0) + [["猫", "が", "珍しい", "魚", "を", "食べる", "。"]]
    lm = KneserNeyLM(order=order, min_count=min_count).fit(train)
    for context in ([], ["<s>"], ["<s>", "猫"], ["猫", "が"], ["が", "珍しい"], ["未知", "語"]):
        assert sum(lm.prob(context, word) for word in lm.vocab) == pytest.approx(1.0, abs=1e-9)


def test_kn_unseen_words_have_finite_probability():
    lm = KneserNeyLM().fit(_toy_sentences(200, seed=0))
    assert math.isfinite(lm.logprob(["<s>", "猫"], "宇宙人"))
    assert lm.prob(["<s>", "猫"], "宇宙人") == lm.prob(["<s>", "猫"], "<unk>") > 0
    assert math.isfinite(lm.perplexity([["宇宙人", "が", "星", "を", "見る", "。"]]))


def test_kn_singletons_become_unk():
    lm = KneserNeyLM(min_count=2).fit([["a", "b"], ["a", "c"]])
    assert lm.vocab == {"a", "</s>", "<unk>"}
    assert lm.prob(["<s>", "a"], "b") == lm.prob(["<s>", "a"], "<unk>")


def test_kn_perplexity_lower_in_domain_than_shuffled():
    lm = KneserNeyLM().fit(_toy_sentences(300, seed=0))
    test = _toy_sentences(50, seed=1)
    rng = random.Random(2)
    shuffled = [rng.sample(sentence, len(sentence)) for sentence in test]
    assert lm.perplexity(test) < lm.perplexity(shuffled) / 2


def test_kn_perplexity_on_knb_morphemes(corpus):
    sentences = [[m.surface for m in s.knp.morphemes] for s in corpus.sentences if s.knp]
    random.Random(0).shuffle(sentences)
    train, test = sentences[:-300], sentences[-300:]
    lm = KneserNeyLM().fit(train)
    shuffled = [random.Random(i).sample(sentence, len(sentence)) for i, sentence in enumerate(test)]
    in_domain = lm.perplexity(test)
    assert math.isfinite(in_domain)
    assert lm.perplexity(train[:300]) < in_domain < lm.perplexity(shuffled)


# --- keyword retrieval -------------------------------------------------------------------------------

PAIRS = [
    (["猫", "犬"], "猫と犬が遊ぶ。"),
    (["猫", "魚"], "猫が魚を食べる。"),
    (["猫", "魚", "海"], "猫は海で魚を見た。"),
    (["空"], "空が青い。"),
    (["空"], "空が高い。"),
    (["雨"], "雨。"),
]


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        (["猫", "魚", "海", "山"], "猫は海で魚を見た。"),  # most overlap
        (["猫", "魚"], "猫が魚を食べる。"),  # overlap 2 twice: higher Jaccard
        (["猫"], "猫と犬が遊ぶ。"),  # overlap and Jaccard tie: shorter sentence
        (["猫", "猫"], "猫と犬が遊ぶ。"),  # keywords are a set
        (["空"], "空が青い。"),  # full tie: first pair
        (["山"], "雨。"),  # no overlap anywhere: shortest sentence
    ],
)
def test_retrieval_picks_expected_sentence(keywords, expected):
    assert KeywordRetriever(PAIRS).retrieve(keywords) == expected


def test_retrieval_batch_and_empty_training():
    assert KeywordRetriever(PAIRS).retrieve_batch([["猫", "魚"], ["雨"]]) == ["猫が魚を食べる。", "雨。"]
    with pytest.raises(ValueError):
        KeywordRetriever([])


def test_repetition_rate_counts_outputs_with_a_unit_three_times_in_a_row():
    from pipeline.evaluation.generation_metrics import repeats_a_unit, repetition_rate

    assert repeats_a_unit(["次", "に", "次", "に", "次", "に", "行く"])
    assert repeats_a_unit(["とても", "とても", "とても"])
    assert not repeats_a_unit(["次", "に", "次", "に", "行く"])  # twice is not three times
    assert not repeats_a_unit(["の", "本", "の", "机", "の"])  # three times, not in a row
    assert repetition_rate([["a", "a", "a"], ["a", "b"], [], ["b"]]) == 0.25
