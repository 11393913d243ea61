"""Text-generation metrics: corpus chrF, corpus BLEU (over characters or tokens) and distinct-n.

All scores are corpus-level: n-gram statistics are summed over every (hypothesis, reference) pair
before the score is computed, with one reference per hypothesis. chrF and BLEU are on a 0-100 scale.

Japanese has no spaces between words, so characters are the natural unit: :func:`chrf` and
:func:`char_bleu` delete all whitespace (``str.split``, full-width U+3000 included) and use every
remaining Unicode character. A space-joined token string therefore scores like the unsegmented text,
and the character scores do not depend on the tokenizer. Both follow sacreBLEU's defaults
(``CHRF()`` and ``BLEU(tokenize="char")``); :func:`bleu` over GiNZA token lists matches
``BLEU(tokenize="none")`` on space-joined tokens.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def ngram_counts(tokens: Sequence, n: int) -> Counter:
    """Counts of the n-grams (as tuples) of one token sequence."""
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _chars(text: str) -> list[str]:
    return list("".join(text.split()))


def _check_lengths(hyps: Sequence, refs: Sequence) -> None:
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")


def chrf(hyps: Sequence[str], refs: Sequence[str], n: int = 6, beta: float = 2) -> float:
    """Corpus chrF (Popović 2015) over character 1..n-grams, whitespace removed, 0-100.

    Character precision and recall are averaged over the orders that both the hypotheses and the
    references have n-grams of (so short texts are not zeroed), then combined into F-beta (recall
    weighted ``beta`` times as much as precision). As in sacreBLEU, a hypothesis's n-grams of an order
    its reference is too short to have are left out of that order's precision.
    """
    _check_lengths(hyps, refs)
    matches, hyp_total, ref_total = [0] * n, [0] * n, [0] * n
    for hyp, ref in zip(hyps, refs):
        hyp_chars, ref_chars = _chars(hyp), _chars(ref)
        for order in range(1, n + 1):
            hyp_counts, ref_counts = ngram_counts(hyp_chars, order), ngram_counts(ref_chars, order)
            matches[order - 1] += sum((hyp_counts & ref_counts).values())
            ref_total[order - 1] += sum(ref_counts.values())
            if ref_counts:  # as sacreBLEU: no precision penalty where the reference is too short for the order
                hyp_total[order - 1] += sum(hyp_counts.values())
    orders = [i for i in range(n) if hyp_total[i] and ref_total[i]]
    if not orders:
        return 0.0
    precision = sum(matches[i] / hyp_total[i] for i in orders) / len(orders)
    recall = sum(matches[i] / ref_total[i] for i in orders) / len(orders)
    if precision + recall == 0:
        return 0.0
    factor = beta**2
    return 100 * (1 + factor) * precision * recall / (factor * precision + recall)


def bleu(
    hyp_tokens: Sequence[Sequence[str]], ref_tokens: Sequence[Sequence[str]], max_n: int = 4, smooth: bool = True
) -> float:
    """Corpus BLEU (Papineni et al. 2002) with brevity penalty over token lists, 0-100.

    Clipped n-gram matches, n-gram totals and lengths are summed over the corpus. With ``smooth``,
    an order with no match gets precision 1 / (2^k * total) for its k-th such order (sacreBLEU's
    default "exp" smoothing, Chen & Cherry 2014 method 3); without it, one such order makes BLEU 0.
    BLEU is 0 when nothing matches at all, or when the hypotheses have no n-grams of some order.
    """
    _check_lengths(hyp_tokens, ref_tokens)
    matches, totals = [0] * max_n, [0] * max_n
    hyp_length = sum(len(hyp) for hyp in hyp_tokens)
    ref_length = sum(len(ref) for ref in ref_tokens)
    for hyp, ref in zip(hyp_tokens, ref_tokens):
        for order in range(1, max_n + 1):
            hyp_counts = ngram_counts(hyp, order)
            matches[order - 1] += sum((hyp_counts & ngram_counts(ref, order)).values())
            totals[order - 1] += sum(hyp_counts.values())
    if not any(matches) or not all(totals):
        return 0.0
    log_precision, halvings = 0.0, 1
    for matched, total in zip(matches, totals):
        if matched:
            log_precision += math.log(matched / total)
        elif smooth:
            halvings *= 2
            log_precision += math.log(1 / (halvings * total))
        else:
            return 0.0
    brevity = 1.0 if hyp_length >= ref_length else math.exp(1 - ref_length / hyp_length)
    return 100 * brevity * math.exp(log_precision / max_n)


def char_bleu(hyps: Sequence[str], refs: Sequence[str], max_n: int = 4, smooth: bool = True) -> float:
    """Corpus BLEU with characters as tokens (whitespace removed), 0-100."""
    return bleu([_chars(h) for h in hyps], [_chars(r) for r in refs], max_n=max_n, smooth=smooth)


def distinct_n(token_lists: Sequence[Sequence[str]], n: int) -> float:
    """Distinct-n (Li et al. 2016): unique n-grams / all n-grams over all outputs; 0 when there are none."""
    counts = Counter()
    for tokens in token_lists:
        counts.update(ngram_counts(tokens, n))
    total = sum(counts.values())
    return len(counts) / total if total else 0.0


def repeats_a_unit(tokens: Sequence[str], times: int = 3, max_unit: int = 4) -> bool:
    """Whether some unit of 1..``max_unit`` tokens occurs ``times`` times in a row (e.g. 次に次に次に)."""
    for size in range(1, max_unit + 1):
        for start in range(len(tokens) - size * times + 1):
            unit = list(tokens[start:start + size])
            if all(list(tokens[start + k * size:start + (k + 1) * size]) == unit for k in range(1, times)):
                return True
    return False


def repetition_rate(token_lists: Sequence[Sequence[str]], times: int = 3) -> float:
    """The fraction of outputs in which one unit (1-4 tokens) occurs ``times`` times in a row."""
    return sum(repeats_a_unit(tokens, times) for tokens in token_lists) / len(token_lists) if token_lists else 0.0


def generation_scores(
    hyps: Sequence[str],
    refs: Sequence[str],
    hyp_tokens: Sequence[Sequence[str]] | None = None,
    ref_tokens: Sequence[Sequence[str]] | None = None,
) -> dict[str, float]:
    """All metrics in one dict: ``chrf`` and ``char_bleu`` from the strings, and, when token lists are
    given, ``token_bleu`` (needs both), ``distinct_1``/``distinct_2`` and ``repetition`` (:func:`repetition_rate`)
    over the hypothesis tokens."""
    scores = {"chrf": chrf(hyps, refs), "char_bleu": char_bleu(hyps, refs)}
    if hyp_tokens is not None and ref_tokens is not None:
        scores["token_bleu"] = bleu(hyp_tokens, ref_tokens)
    if hyp_tokens is not None:
        scores["distinct_1"] = distinct_n(hyp_tokens, 1)
        scores["distinct_2"] = distinct_n(hyp_tokens, 2)
        scores["repetition"] = repetition_rate(hyp_tokens)
    return scores
