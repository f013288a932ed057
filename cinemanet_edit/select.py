"""Selects: the clips of a tagged timeline that match a query, as a string-out in timeline order.

The query language, small on purpose::

    shot.framing in (close-up, extreme-close-up) and shot.subject has faces
    shot.angle = low or not shot.type is two-up
    (shot.framing = medium or shot.framing = long) and imagenet has n02124075

- ``CATEGORY in (LABEL, ...)``, ``CATEGORY = LABEL`` (also ``is``), ``CATEGORY != LABEL``: the clip's label for
  the category (its top label);
- ``CATEGORY has LABEL``: the label's score is at least 0.5 (multi-label categories such as shot.subject; for
  the others the same as ``=``);
- ``and``, ``or``, ``not`` and parentheses; ``and`` binds tighter than ``or``.

Labels may be written as the last part of their id (``close-up``), the whole id (``shot.framing.close-up``) or
the title in quotes (``"Close Up"``). An unknown category or label is a one-line error naming the valid ones.
``min_confidence`` also requires every label a clip matches on to be at least that sure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import opentimelineio as otio

from . import schema
from .errors import CinemanetError
from .layout import Layout, PlacedClip, layout
from .taxonomy import CINEMATOGRAPHY, Category
from .timecode import frames_on_grid
from .types import CategoryLabel

MAX_QUERY = 4000  # characters: a query is typed or generated, never a file's worth
MAX_DEPTH = 50  # parentheses and "not"s inside each other
TOKEN = re.compile(r'\s*(?:(\()|(\))|(,)|(!=|=)|"([^"]*)"|\'([^\']*)\'|([A-Za-z0-9_.\-]+))')
HAS_SCORE = 0.5


@dataclass(frozen=True)
class Condition:
    category: str
    op: str  # "in", "not in", "has"
    labels: tuple[str, ...]  # full label ids


@dataclass(frozen=True)
class Node:
    op: str  # "and", "or", "not", "cond"
    children: tuple = ()
    condition: Condition | None = None


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = TOKEN.match(text, pos)
        if not m:
            raise CinemanetError(f"--where: cannot read {text[pos:].strip()[:30]!r}")
        out.append(next(g for g in m.groups() if g is not None) if any(m.groups()) else "")
        if m.group(5) is not None or m.group(6) is not None:
            out[-1] = "\x00" + out[-1]  # a quoted title
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str, categories: dict[str, Category]):
        if len(text) > MAX_QUERY:
            raise CinemanetError(f"--where: the query is too long ({len(text)} characters; at most {MAX_QUERY})")
        self.tokens = _tokens(text)
        self.pos = 0
        self.depth = 0
        self.categories = categories

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.lower() != expected):
            want = f"{expected!r}" if expected else "more"
            raise CinemanetError(f"--where: expected {want} after {' '.join(self.tokens[:self.pos])!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            raise CinemanetError("--where: empty query")
        node = self.expr()
        if self.peek() is not None:
            raise CinemanetError(f"--where: unexpected {self.peek()!r}")
        return node

    def joined(self, word: str, part) -> Node:
        """``part (word part)*``: one node, or a ``word`` node over the parts."""
        parts = [part()]
        while (self.peek() or "").lower() == word:
            self.take()
            parts.append(part())
        return parts[0] if len(parts) == 1 else Node(word, tuple(parts))

    def expr(self) -> Node:  # "and" binds tighter than "or"
        return self.joined("or", lambda: self.joined("and", self.unary))

    def unary(self) -> Node:
        token = self.peek()
        if token is None or (token.lower() != "not" and token != "("):
            return self.condition()
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CinemanetError(f"--where: the query is nested more than {MAX_DEPTH} deep (parentheses and 'not')")
        self.take()
        if token == "(":
            node = self.expr()
            self.take(")")
        else:
            node = Node("not", (self.unary(),))
        self.depth -= 1
        return node

    def condition(self) -> Node:
        name = self.take()
        category = self.categories.get(name)
        if category is None:
            raise CinemanetError(f"--where: unknown category {name!r} (categories: {', '.join(self.categories)})")
        op = self.take().lower()
        if op == "not":
            self.take("in")
            op = "not in"
        if op in ("=", "is"):
            labels, op = [self.label(category)], "in"
        elif op == "!=":
            labels, op = [self.label(category)], "not in"
        elif op in ("in", "not in"):
            self.take("(")
            labels = [self.label(category)]
            while self.peek() == ",":
                self.take()
                labels.append(self.label(category))
            self.take(")")
        elif op == "has":
            labels = [self.label(category)]
        else:
            raise CinemanetError(f"--where: {op!r} is not an operator (in, not in, =, !=, is, has)")
        return Node("cond", condition=Condition(category.id, op, tuple(labels)))

    def label(self, category: Category) -> str:
        token = self.take()
        quoted = token.startswith("\x00")
        text = token.lstrip("\x00")
        for label in category.labels:
            if (quoted and text.lower() == label.title.lower()) or text.lower() in (
                    label.id.lower(), label.id.rsplit(".", 1)[-1].lower(), label.title.lower()):
                return label.id
        names = ", ".join(label.id.rsplit(".", 1)[-1] for label in category.labels[:40])
        more = " ..." if len(category.labels) > 40 else ""
        raise CinemanetError(f"--where: {category.id} has no label {text!r} (labels: {names}{more})")


def parse_query(text: str, categories: dict[str, Category] | None = None) -> Node:
    return _Parser(text, categories or {c.id: c for c in CINEMATOGRAPHY}).parse()


def matches(node: Node, labels: Mapping[str, CategoryLabel], min_confidence: float = 0.0) -> bool:
    """Whether a clip's (or a catalogue shot's) labels satisfy the query."""
    if node.op == "and":
        return all(matches(n, labels, min_confidence) for n in node.children)
    if node.op == "or":
        return any(matches(n, labels, min_confidence) for n in node.children)
    if node.op == "not":
        return not matches(node.children[0], labels, min_confidence)
    cond = node.condition
    entry = labels.get(cond.category)
    if entry is None:
        return False
    if entry.uncertain:  # not written (below its threshold, not applicable): matches nothing, "not in" everything
        return cond.op == "not in"
    written = (entry.label, *entry.holds)
    if cond.op == "has":
        wanted = cond.labels[0]
        score = entry.scores.get(wanted, entry.confidence if entry.label == wanted else 0.0)
        if entry.threshold is not None:  # decided: the labels written, no other
            return wanted in written and score >= min_confidence
        return score >= max(HAS_SCORE, min_confidence)
    hit = any(label in cond.labels and entry.scores.get(label, entry.confidence) >= min_confidence
              for label in written)
    return hit if cond.op == "in" else not any(label in cond.labels for label in written)


def select(timeline: otio.schema.Timeline, query: str, handles: int = 0, min_confidence: float = 0.0,
           limit: int | None = None, categories: dict[str, Category] | None = None) -> otio.schema.Timeline:
    """A string-out of the matching video clips in timeline order (by record in, then track), each with
    ``handles`` frames of media either side where the media has them; labels and markers travel along."""
    node = parse_query(query, categories)
    if not any(schema.has_record(c) for c in timeline.find_clips()):
        raise CinemanetError("no labels in this timeline: tag it first (.otio and .fcpxml keep the labels)")
    cut = layout(timeline)
    picked = []
    for placed in sorted(cut.all_clips(), key=lambda c: (c.record_in, c.track)):
        if placed.kind != "video" or placed.media is None:
            continue
        record = schema.clip_record(placed.clip)
        if record is not None and record.labels and matches(node, record.labels, min_confidence):
            picked.append(placed)
    return string_out(timeline, cut, picked[:limit] if limit is not None else picked, query, handles,
                      min_confidence)


def string_out(timeline: otio.schema.Timeline, cut: Layout, picked: list[PlacedClip], query: str, handles: int,
               min_confidence: float) -> otio.schema.Timeline:
    """The picked clips of ``cut`` one after another on one track, with handles where the media has them."""
    out = otio.schema.Timeline(name=f"{timeline.name or 'selects'} selects")
    if timeline.global_start_time is not None:
        out.global_start_time = timeline.global_start_time
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    out.tracks.append(track)
    for placed in picked:
        clip = placed.clip.deepcopy()
        media = placed.media
        extra = round(frames_on_grid(handles, cut.rate, media.rate)) if handles else 0
        first = max(placed.source_in - extra, media.start)
        end = placed.source_out + extra
        if media.duration is not None:
            end = min(end, media.start + media.duration)
        m_rate = float(media.rate)
        clip.source_range = otio.opentime.TimeRange(otio.opentime.RationalTime(first, m_rate),
                                                    otio.opentime.RationalTime(end - first, m_rate))
        track.append(clip)
    schema.set_selects(out, query, handles, min_confidence, timeline.name or "", float(cut.rate))
    return out
