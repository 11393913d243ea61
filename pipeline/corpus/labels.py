"""The corpus's label sets: the four themes and the four sentiments, in one place."""

from __future__ import annotations

THEMES = {"Keitai": "携帯電話", "Kyoto": "京都観光", "Sports": "スポーツ", "Gourmet": "グルメ"}  # file stem -> theme
SENTIMENTS = ("positive", "negative", "mixed", "neutral")
THEME_LABELS = tuple(THEMES.values())
SENTIMENT_LABELS = SENTIMENTS
THEME_IDS = {theme: i for i, theme in enumerate(THEME_LABELS)}  # a theme-conditioned model's theme ids
DEFAULT_THEME = "京都観光"  # what a generator writes in when no theme classifier ran


def theme_from_cats(cats: dict[str, float], default: str | None = None) -> str | None:
    """The best-scored theme in ``cats`` (a Doc's ``doc.cats`` after a theme classifier), else ``default``."""
    themes = {label: cats[label] for label in THEME_LABELS if label in cats}
    return max(themes, key=themes.get) if themes else default
