"""Per-theme corpus statistics, checked against the counts the corpus README states."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from pipeline.corpus.records import Corpus
from pipeline.corpus.labels import SENTIMENTS

# From the KNBC README (section KNBコーパスの概要): theme -> (articles, sentences)
README_COUNTS = {"携帯電話": (79, 1278), "京都観光": (91, 1498), "スポーツ": (22, 522), "グルメ": (57, 888)}
README_TOTAL = (249, 4186)


def theme_statistics(corpus: Corpus, ginza_tokens: dict[str, int] | None = None) -> pd.DataFrame:
    """One row per theme and a total row: articles, sentences, tokens, NEs, 評判 by polarity, labels.

    ``ginza_tokens`` (sentence id -> GiNZA token count) adds a ``ginza_tokens`` column.
    """
    rows: dict[str, Counter] = {}
    articles: dict[str, set[str]] = {}
    for s in corpus.sentences:
        row = rows.setdefault(s.theme, Counter())
        articles.setdefault(s.theme, set()).add(s.article_id)
        row["sentences"] += 1
        row["morphemes"] += len(s.morphemes)
        if ginza_tokens is not None:
            row["ginza_tokens"] += ginza_tokens[s.sid]
        row["entities"] += len(s.entities)
        row["reputations"] += len(s.reputations)
        for r in s.reputations:
            row[{1: "rep_positive", -1: "rep_negative", 0: "rep_unpolar"}[r.polarity]] += 1
        row[f"label_{s.sentiment}"] += 1
    columns = ["articles", "sentences", "morphemes"] + (["ginza_tokens"] if ginza_tokens is not None else [])
    columns += ["entities", "reputations", "rep_positive", "rep_negative", "rep_unpolar"]
    columns += [f"label_{label}" for label in SENTIMENTS]
    table = pd.DataFrame(
        [{"theme": theme, "articles": len(articles[theme]), **rows[theme]} for theme in README_COUNTS if theme in rows]
    )
    table = table.reindex(columns=["theme", *columns]).fillna(0)
    total = table[columns].sum()
    table.loc[len(table)] = {"theme": "total", **total.to_dict()}
    table[columns] = table[columns].astype(int)
    return table


def readme_mismatches(table: pd.DataFrame) -> list[str]:
    """Where the counts differ from the corpus README (empty when they all agree)."""
    expected = {**README_COUNTS, "total": README_TOTAL}
    problems = []
    for _, row in table.iterrows():
        want = expected.get(row["theme"])
        if want and (row["articles"], row["sentences"]) != want:
            problems.append(
                f"{row['theme']}: {row['articles']} articles, {row['sentences']} sentences; "
                f"the README says {want[0]} and {want[1]}"
            )
    return problems
