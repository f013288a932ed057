"""Every category and label the product knows: ids, display titles, single/multi-label, marker colours.

Ids are reverse-DNS (``shot.framing.close-up``); titles are the seed's ("Close Up"). Large vocabularies
(ImageNet, Places365) read their labels from the model's label file instead of listing them here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

# Keyword policy: a large vocabulary's label becomes a keyword only when the model is fairly sure; a
# multi-label category adds every label that holds.
KEYWORD_CONFIDENCE = 0.5
MULTI_LABEL_KEYWORD_SCORE = 0.5


@dataclass(frozen=True)
class Label:
    id: str
    title: str


@dataclass(frozen=True)
class Category:
    id: str
    title: str
    labels: tuple[Label, ...]
    multi_label: bool = False
    marker_color: str = "PURPLE"  # an opentimelineio MarkerColor name
    top_k: int | None = None  # report only the k best scores (large vocabularies)
    order: int = 6  # where the category sits among others: markers, keywords, columns, report rows
    keywords: str = "always"  # keyword policy: "always" its label, "confident" (>= KEYWORD_CONFIDENCE), "never"

    def label(self, label_id: str) -> Label:
        for label in self.labels:
            if label.id == label_id:
                return label
        raise KeyError(label_id)

    def keyword_titles(self, label) -> list[str]:
        """The keywords one of this category's labels (a ``types.CategoryLabel``) gives an editor."""
        if self.keywords == "never" or (self.keywords == "confident" and label.confidence < KEYWORD_CONFIDENCE):
            return []
        titles = [label.title]
        if self.multi_label:  # the other labels that hold (decided ones name them; older files: by score)
            by_id = {known.id: known.title for known in self.labels}
            others = label.holds if label.threshold is not None else \
                [i for i, score in label.scores.items() if score >= MULTI_LABEL_KEYWORD_SCORE]
            for label_id in others:
                title = by_id.get(label_id)
                if title is not None and title not in titles:
                    titles.append(title)
        return titles


def _labels(category: str, *pairs: tuple[str, str]) -> tuple[Label, ...]:
    return tuple(Label(f"{category}.{slug}", title) for slug, title in pairs)


SHOT_FRAMING = Category("shot.framing", "Shot Framing", _labels(
    "shot.framing", ("extreme-close-up", "Extreme Close Up"), ("close-up", "Close Up"), ("medium", "Medium"),
    ("long", "Long Shot"), ("extreme-long", "Extreme Long Shot")), marker_color="BLUE", order=0)
SHOT_TYPE = Category("shot.type", "Shot Type", _labels(
    "shot.type", ("master", "Master"), ("two-up", "Two Up"), ("portrait", "Portrait"),
    ("over-the-shoulder", "Over the Shoulder")), marker_color="GREEN", order=1)
SHOT_ANGLE = Category("shot.angle", "Shot Angle", _labels(
    "shot.angle", ("aerial", "Aerial"), ("high", "High"), ("straight", "Straight"), ("low", "Low"),
    ("tilted", "Tilted")), marker_color="YELLOW", order=2)
SHOT_SUBJECT = Category("shot.subject", "Shot Subject", _labels(
    "shot.subject", ("face", "Face"), ("faces", "Faces"), ("person", "Person"), ("people", "People"),
    ("animal", "Animal"), ("text", "Text")), multi_label=True, marker_color="RED", order=3)

CINEMATOGRAPHY: tuple[Category, ...] = (SHOT_FRAMING, SHOT_TYPE, SHOT_ANGLE, SHOT_SUBJECT)

# Colours of the large-vocabulary categories, whose labels come from files.
VOCABULARY_COLORS = {"imagenet": "PURPLE", "places365": "CYAN"}
VOCABULARY_TITLES = {"imagenet": "ImageNet", "places365": "Places365"}


VOCABULARY_ORDER = {"imagenet": 4, "places365": 5}


def known_category(category_id: str) -> Category | None:
    for category in CINEMATOGRAPHY:
        if category.id == category_id:
            return category
    return None


@lru_cache(maxsize=256)
def describe(category_id: str) -> Category:
    """Everything we know of a category from its id alone (title, colour, order, keyword policy): the
    cinematography categories in full; ImageNet and Places365 without their labels (those come with the model);
    imported legacy heads and anything else by their id. Writers that see only a file's labels use this."""
    known = known_category(category_id)
    if known is not None:
        return known
    if category_id in VOCABULARY_TITLES:
        return Category(category_id, VOCABULARY_TITLES[category_id], (), marker_color=VOCABULARY_COLORS[category_id],
                        order=VOCABULARY_ORDER[category_id], keywords="confident")
    return Category(category_id, category_id, (), keywords="never" if category_id.startswith("legacy.") else "always")


# Marker colours (OTIO names) as each NLE calls them.
RESOLVE_COLORS = {"BLUE": "Blue", "GREEN": "Green", "YELLOW": "Yellow", "RED": "Red", "PURPLE": "Purple",
                  "CYAN": "Cyan", "PINK": "Pink", "MAGENTA": "Fuchsia", "ORANGE": "Sand", "WHITE": "Cream",
                  "BLACK": "Cocoa"}
AVID_COLORS = {"RED": "RED", "GREEN": "GREEN", "BLUE": "BLUE", "CYAN": "CYAN", "MAGENTA": "MAGENTA",
               "YELLOW": "YELLOW", "BLACK": "BLACK", "WHITE": "WHITE", "PURPLE": "MAGENTA", "PINK": "MAGENTA",
               "ORANGE": "YELLOW"}
