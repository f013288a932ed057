"""A tagged cut as one self-contained HTML page (write only): a card per clip or shot with the analysed frames,
record and source timecode and labels with confidence bars, filters by label, and the shot-size distribution of
the cut as a chart. Thumbnails are JPEGs inside the page (data URIs); nothing is fetched from anywhere.

The pictures come as the ``thumbnails`` option: ``cinemanet_edit.report`` decodes them (PyAV stays out of the
adapters), reusing the frames the analysis decoded.
"""

from __future__ import annotations

import base64
import html
from collections import defaultdict

from cinemanet_edit import timecode
from cinemanet_edit.layout import Layout, PlacedClip, layout
from cinemanet_edit.schema import ordered_categories
from cinemanet_edit.taxonomy import CINEMATOGRAPHY, describe

MAX_THUMBS = 4  # per clip


def write_to_string(input_otio, thumbnails: dict | None = None, title: str | None = None) -> str:
    """OTIO's entry point: ``render`` of the timeline's layout (no pictures unless given)."""
    return render(layout(input_otio), thumbnails, title)


def sample_frames(placed: PlacedClip) -> list[int]:
    """The media frames (0-based in the file) the analysis used for a clip."""
    record = placed.record
    samples = record.samples if record is not None else None
    if samples is None or placed.media is None:
        return []
    rate = float(samples.rate or placed.media.rate)
    frames = []
    for value in samples.source_frames[:MAX_THUMBS]:
        media_frame = round(timecode.frames_on_grid(value, rate, placed.media.rate)) - placed.media.start
        frames.append(max(0, media_frame))
    return frames


def _label_rows(labels: dict) -> list[dict]:
    rows = []
    for category in ordered_categories(labels):
        entry = labels[category]
        value = "not applicable" if entry.not_applicable else \
            entry.title + (" (not written)" if entry.uncertain else "")
        rows.append({"category": category, "title": describe(category).title, "label": entry.label,
                     "value": value, "confidence": entry.confidence, "unsure": entry.uncertain,
                     "why": entry.reason or ""})
    return rows


def _label_row(row: dict) -> str:
    """One label with its score bar; a label not written (below its threshold, never written by default, not
    applicable) is drawn dim, with the reason beside the score, so a high score that was left out reads as such."""
    why = (f'<span class="why">{html.escape(row["why"])}</span>' if row["unsure"] and row["why"] else "")
    return (f'<div class="label{" unsure" if row["unsure"] else ""}"><span class="cat">{html.escape(row["title"])}'
            f'</span><span class="val">{html.escape(row["value"])}</span>'
            f'<span class="bar"><i style="width:{row["confidence"] * 100:.0f}%"></i></span>'
            f'<span class="pct">{row["confidence"]:.0%}</span>{why}</div>')


def render(cut: Layout, thumbnails: dict[tuple[str, int], bytes] | None = None, title: str | None = None) -> str:
    """The page. Cards carry their labels as data attributes; the filters hide cards client-side.
    ``thumbnails``: JPEG bytes by (media path, 0-based frame), as ``cinemanet_edit.report`` decodes them."""
    thumbs = thumbnails or {}
    title = title or cut.name or "cinemanet-edit"
    drop = cut.drop_frame
    cards, filters = [], defaultdict(dict)
    framing_time: dict[str, int] = defaultdict(int)
    framing_count: dict[str, int] = defaultdict(int)
    total = 0
    for placed in sorted((c for c in cut.all_clips() if c.kind == "video"), key=lambda c: (c.record_in, c.track)):
        record = placed.record
        rows = _label_rows(record.labels) if record is not None else []
        for row in rows:
            filters[row["category"]][row["label"]] = (row["title"], row["value"])
        framing = next((r for r in rows if r["category"] == "shot.framing"), None)
        if framing is not None:
            framing_time[framing["value"]] += placed.duration
            framing_count[framing["value"]] += 1
        total += placed.duration
        pictures = [thumbs[(placed.media.path, f)] for f in sample_frames(placed)
                    if placed.media is not None and (placed.media.path, f) in thumbs]
        images = "".join(f'<img alt="analysed frame" src="data:image/jpeg;base64,{base64.b64encode(p).decode()}">'
                         for p in pictures)
        bars = "".join(_label_row(r) for r in rows)
        source_rate = placed.media.rate if placed.media is not None else cut.rate
        source = (f"{timecode.render(placed.source_in, source_rate)}-"
                  f"{timecode.render(placed.source_out, source_rate)}" if timecode.is_video_rate(source_rate) else "")
        words = record.keywords() if record is not None else []
        attrs = " ".join(f'data-{html.escape(r["category"].replace(".", "-"))}="{html.escape(r["label"])}"'
                         for r in rows)
        cards.append(
            f'<article class="card" {attrs}><div class="thumbs">{images or "<div class=empty>no picture</div>"}</div>'
            f'<h3>{html.escape(placed.name)}</h3>'
            f'<p class="tc">V{placed.track} &middot; rec {timecode.render(placed.record_in, cut.rate, drop_frame=drop)}'
            f'-{timecode.render(placed.record_out, cut.rate, drop_frame=drop)} &middot; src {source}</p>'
            f'<p class="file">{html.escape(placed.media.name if placed.media else "")}</p>'
            f'{bars}<p class="kw">{html.escape(", ".join(words))}</p></article>')
    selects = "".join(
        f'<label>{html.escape(describe(category).title)} <select data-cat="{html.escape(category.replace(".", "-"))}">'
        f'<option value="">any</option>'
        + "".join(f'<option value="{html.escape(label)}">{html.escape(value)}</option>'
                  for label, (_t, value) in sorted(options.items(), key=lambda kv: kv[1][1]))
        + "</select></label>"
        for category, options in ((c, filters[c]) for c in ordered_categories(list(filters))))
    chart = _chart(framing_time, framing_count, total, cut.rate)
    summary = (f"{len(cards)} clips, {timecode.render(total, cut.rate, drop_frame=drop)} of picture"
               f" at {float(cut.rate):.3f} fps")
    return PAGE.format(title=html.escape(title), summary=html.escape(summary), chart=chart, filters=selects,
                       cards="\n".join(cards), count=len(cards))


def _chart(seconds: dict[str, int], counts: dict[str, int], total: int, rate) -> str:
    """An inline SVG bar chart: each shot size's share of the cut's duration."""
    order = [label.title for label in CINEMATOGRAPHY[0].labels]
    rows = [k for k in order if k in seconds] + [k for k in seconds if k not in order]
    if not rows or not total:
        return "<p>No shot framing labels in this timeline.</p>"
    height = 26 * len(rows) + 10
    scale = 320  # the widest bar: leaves room in the 640 px for "100% (10000 clips)" after it
    bars = []
    for i, name in enumerate(rows):
        share = seconds[name] / total
        y = 5 + i * 26
        bars.append(f'<text x="0" y="{y + 15}">{html.escape(name)}</text>'
                    f'<rect x="150" y="{y}" width="{max(1, share * scale):.1f}" height="18" class="b"></rect>'
                    f'<text x="{160 + share * scale:.1f}" y="{y + 15}">{share:.0%} ({counts[name]} clip{"s" if counts[name] != 1 else ""})</text>')
    return (f'<svg id="chart" role="img" aria-label="shot-size distribution" width="640" height="{height}">'
            + "".join(bars) + "</svg>")


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #111; color: #eee; }}
header {{ padding: 16px 24px; background: #1c1c1c; position: sticky; top: 0; z-index: 1; }}
h1 {{ margin: 0 0 4px; font-size: 20px; }} h3 {{ margin: 6px 0 2px; font-size: 15px; }}
#filters label {{ margin-right: 14px; }} select {{ background: #222; color: #eee; border: 1px solid #444; }}
#grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 14px; padding: 20px 24px; }}
.card {{ background: #1d1d1d; border-radius: 8px; padding: 10px; }} .card.hidden {{ display: none; }}
.thumbs {{ display: flex; gap: 3px; overflow: hidden; }} .thumbs img {{ width: 25%; min-width: 0; border-radius: 3px; }}
.empty {{ color: #777; padding: 20px; }} .tc, .file, .kw {{ margin: 2px 0; color: #aaa; font-size: 12px; }}
.label {{ display: grid; grid-template-columns: 90px 1fr 80px 36px; gap: 6px; align-items: center; font-size: 12px; }}
.cat {{ color: #999; }} .bar {{ background: #333; height: 6px; border-radius: 3px; }}
.bar i {{ display: block; height: 6px; background: #4aa3ff; border-radius: 3px; }}
.label.unsure {{ color: #888; }} .label.unsure .bar i {{ background: #555; }}
.why {{ grid-column: 2 / -1; color: #777; font-size: 11px; margin-top: -4px; }}
svg text {{ fill: #ddd; font-size: 12px; }} svg .b {{ fill: #4aa3ff; }}
</style></head><body>
<header><h1>{title}</h1><p id="summary">{summary} &middot; <span id="shown">{count}</span> shown</p>
{chart}<div id="filters">{filters}</div></header>
<main id="grid">
{cards}
</main>
<script>
const selects = Array.from(document.querySelectorAll('#filters select'));
const cards = Array.from(document.querySelectorAll('.card'));
function apply() {{
  const wanted = selects.filter(s => s.value).map(s => [s.dataset.cat, s.value]);
  let shown = 0;
  for (const card of cards) {{
    const ok = wanted.every(([cat, value]) => card.dataset[cat.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase())] === value);
    card.classList.toggle('hidden', !ok);
    if (ok) shown++;
  }}
  document.getElementById('shown').textContent = shown;
}}
function fromHash() {{  // #shot-framing=shot.framing.close-up&shot-angle=shot.angle.low: a shareable filtered view
  const params = new URLSearchParams(location.hash.slice(1));
  selects.forEach(s => {{ s.value = params.get(s.dataset.cat) || ''; }});
  apply();
}}
selects.forEach(s => s.addEventListener('change', () => {{
  const params = new URLSearchParams();
  selects.filter(x => x.value).forEach(x => params.set(x.dataset.cat, x.value));
  history.replaceState(null, '', '#' + params.toString());
  apply();
}}));
window.addEventListener('hashchange', fromHash);
fromHash();
</script></body></html>
"""
