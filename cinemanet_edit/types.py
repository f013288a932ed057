"""Small typed objects passed between the stages; no heavy imports here.

timeline -> ClipRef -> (with MediaInfo) SamplePlan -> decoded frames -> per-frame scores
-> ClipLabels -> markers and metadata in the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class MediaInfo:
    """What the sampler needs to know about a media file (read by ``decode.probe``)."""

    path: Path
    rate: Fraction  # real frame rate, e.g. 24000/1001
    frame_count: int  # number of video frames (estimated from the duration when the container does not say)
    width: int
    height: int
    start_timecode: str | None = None  # embedded start timecode ("01:00:00:00"), if any
    start_frame: int = 0  # start_timecode as a frame count at the nominal rate
    codec: str = ""


@dataclass(frozen=True)
class TimeSpan:
    """A range of time as a timeline counts it: ``start`` and ``duration`` in units of ``rate`` (frames at a
    video rate, see ``timecode.frames_on_grid``)."""

    start: float
    duration: float
    rate: float


@dataclass(frozen=True)
class ClipRef:
    """One video clip of the timeline to analyse, or to skip with a reason: everything the later stages need,
    without the timeline object itself."""

    key: str  # stable position, e.g. "V1.3" or "V1.2/V2.1" inside a nested stack
    name: str
    media_path: Path | None
    source: TimeSpan | None  # the clip's trimmed source range (None: the clip has no range)
    available: TimeSpan | None = None  # the media's range as the timeline knows it (its start timecode)
    skip_reason: str | None = None


@dataclass(frozen=True)
class SamplePlan:
    """Which media frames to analyse for one clip, and where they sit in the clip's source time."""

    clip_key: str
    media_path: Path
    frames: tuple[int, ...]  # 0-based frame indices in the media file
    source_times: tuple[float, ...]  # the same samples in the clip's source time, in units of ``rate``
    rate: float  # the units of ``source_times`` (1 for seconds)


@dataclass(frozen=True)
class Frame:
    """One decoded, scaled frame (uint8 RGB, model input size)."""

    media_path: Path
    index: int
    image: Any = field(repr=False)  # numpy array (H, W, 3) uint8


@dataclass(frozen=True)
class CategoryLabel:
    """One category's verdict for an image, a clip or a sample: the JSON contract of ``classify`` and ``tag``."""

    category: str
    label: str  # reverse-DNS label id, e.g. "shot.framing.close-up"
    title: str  # display name, e.g. "Close Up"
    confidence: float
    scores: dict[str, float]  # every label's probability (top-k for large vocabularies)
    uncertain: bool = False  # not written (below its threshold, or not applicable): kept in metadata only
    threshold: float | None = None  # the score it needed to be written (``decide.LabelPolicy``)
    reason: str | None = None  # why it is not written
    not_applicable: bool = False  # the category does not apply to this picture (Shot Type with nobody in it)
    holds: tuple[str, ...] = ()  # multi-label: the other labels at their thresholds, best first
    editor: bool = False  # an editor's correction (``corrections``), not the model's: never overwritten by it

    def to_json(self) -> dict[str, Any]:
        out = {"label": self.label, "title": self.title, "confidence": round(self.confidence, 6),
               "scores": {k: round(v, 6) for k, v in self.scores.items()}}
        if self.threshold is not None:
            out["threshold"] = round(self.threshold, 4)
        if self.holds:
            out["holds"] = list(self.holds)
        if self.uncertain:
            out["uncertain"] = True
        if self.not_applicable:
            out["not_applicable"] = True
        if self.reason:
            out["reason"] = self.reason
        if self.editor:
            out["editor"] = True
        return out


@dataclass(frozen=True)
class ClipLabels:
    """The aggregated labels of one clip and the samples they came from."""

    clip_key: str
    labels: dict[str, CategoryLabel]
    source_times: tuple[float, ...]  # the samples that decoded, in the clip's source time (units of ``rate``)
    rate: float
    frames_requested: int = 0
    media_frames: tuple[int, ...] = ()  # the same samples as 0-based frames of the media file


@dataclass(frozen=True)
class WriterOption:
    """One option of one of our writers, declared once by its adapter: the CLI flag and the keyword it fills."""

    flag: str  # "--fcpxml-version"
    keyword: str  # "fcpxml_version"
    help: str
    choices: tuple[str, ...] | None = None
    default: Any = None
    switch: bool = False  # a flag without a value (store_true)
