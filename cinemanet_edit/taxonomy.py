"""Every category and label the product knows: ids, display titles, single/multi-label, marker colours.

Ids are reverse-DNS (``shot.framing.close-up``); titles are the seed's ("Close Up"). Large vocabularies
(ImageNet, Places365) read their labels from the model's label file instead of listing them here.
"""

from __future__ import annotations

from dataclasses import dataclass


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

    def label(self, label_id: str) -> Label:
        for label in self.labels:
            if label.id == label_id:
                return label
        raise KeyError(label_id)


def _labels(category: str, *pairs: tuple[str, str]) -> tuple[Label, ...]:
    return tuple(Label(f"{category}.{slug}", title) for slug, title in pairs)


SHOT_FRAMING = Category("shot.framing", "Shot Framing", _labels(
    "shot.framing", ("extreme-close-up", "Extreme Close Up"), ("close-up", "Close Up"), ("medium", "Medium"),
    ("long", "Long Shot"), ("extreme-long", "Extreme Long Shot")), marker_color="BLUE")
SHOT_TYPE = Category("shot.type", "Shot Type", _labels(
    "shot.type", ("master", "Master"), ("two-up", "Two Up"), ("portrait", "Portrait"),
    ("over-the-shoulder", "Over the Shoulder")), marker_color="GREEN")
SHOT_ANGLE = Category("shot.angle", "Shot Angle", _labels(
    "shot.angle", ("aerial", "Aerial"), ("high", "High"), ("straight", "Straight"), ("low", "Low"),
    ("tilted", "Tilted")), marker_color="YELLOW")
SHOT_SUBJECT = Category("shot.subject", "Shot Subject", _labels(
    "shot.subject", ("face", "Face"), ("faces", "Faces"), ("person", "Person"), ("people", "People"),
    ("animal", "Animal"), ("text", "Text")), multi_label=True, marker_color="RED")

CINEMATOGRAPHY: tuple[Category, ...] = (SHOT_FRAMING, SHOT_TYPE, SHOT_ANGLE, SHOT_SUBJECT)

# Colours of the large-vocabulary categories, whose labels come from files.
VOCABULARY_COLORS = {"imagenet": "PURPLE", "places365": "CYAN"}
VOCABULARY_TITLES = {"imagenet": "ImageNet", "places365": "Places365"}


def known_category(category_id: str) -> Category | None:
    for category in CINEMATOGRAPHY:
        if category.id == category_id:
            return category
    return None


# Marker colours (OTIO names) as each NLE calls them.
RESOLVE_COLORS = {"BLUE": "Blue", "GREEN": "Green", "YELLOW": "Yellow", "RED": "Red", "PURPLE": "Purple",
                  "CYAN": "Cyan", "PINK": "Pink", "MAGENTA": "Fuchsia", "ORANGE": "Sand", "WHITE": "Cream",
                  "BLACK": "Cocoa"}
AVID_COLORS = {"RED": "RED", "GREEN": "GREEN", "BLUE": "BLUE", "CYAN": "CYAN", "MAGENTA": "MAGENTA",
               "YELLOW": "YELLOW", "BLACK": "BLACK", "WHITE": "WHITE", "PURPLE": "MAGENTA", "PINK": "MAGENTA",
               "ORANGE": "YELLOW"}
