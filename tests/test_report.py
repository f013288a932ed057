"""The HTML report: one self-contained page with a card per clip, the analysed frames inside it, working filters
(checked in headless Chromium when it is installed) and a page that stays light at 1,000 shots."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import opentimelineio as otio
import pytest
from cinemanet_edit_adapters.html_report import render as build_html
from conftest import tagged_cut
from fakes import frame_id_analyzer
from lxml import html as lxml_html

from cinemanet_edit import cli
from cinemanet_edit.layout import layout

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(url: str, *args: str) -> str:
    if not CHROMIUM:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *args, url],
                          capture_output=True, text=True, timeout=120)
    return done.stdout


@pytest.fixture(scope="module")
def page(tmp_path_factory, clip_25_mjpeg, clip_23976_tc):
    folder = tmp_path_factory.mktemp("report")
    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    clips = [otio.schema.Clip(name=n, media_reference=otio.schema.ExternalReference(target_url=p.as_uri()),
                              source_range=TR(RT(s, r), RT(40, r)))
             for n, p, s, r in (("one", clip_25_mjpeg, 10, 25), ("two", clip_23976_tc, 86400 + 20, 24000 / 1001),
                                ("three", clip_25_mjpeg, 50, 25))]
    tl = otio.schema.Timeline(name="report test")
    tl.tracks.append(otio.schema.Track(children=clips))
    src = folder / "cut.otio"
    otio.adapters.write_to_file(tl, str(src))
    import pytest as _pytest

    from cinemanet_edit import decode

    patch = _pytest.MonkeyPatch()
    patch.setenv("CINEMANET_CACHE", str(folder / "cache"))  # frames served by a cache are not decoded here
    patch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer())
    real, extra = decode.decode_frames, []

    def counting(path, indices, size, report=None, *, height=None, crop_bars=True):
        if height is not None:  # a decode for thumbnails only
            extra.append(path)
        return real(path, indices, size, report, height=height, crop_bars=crop_bars)

    patch.setattr(decode, "decode_frames", counting)
    try:
        assert cli.main(["tag", str(src), "-q", "-o", str(folder / "tagged.otio"), "-o", str(folder / "cut.html")]) == 0
        assert extra == []  # tag's page reuses the frames the analysis decoded
        assert cli.main(["report", str(folder / "tagged.otio"), "-o", str(folder / "again.html")]) == 0
        assert len(extra) == 2  # report TAGGED decodes them again, one pass per file
    finally:
        patch.undo()
    return folder


def test_one_card_per_clip_with_its_frames_and_nothing_remote(page):
    text = (page / "cut.html").read_text()
    doc = lxml_html.fromstring(text)
    cards = doc.xpath('//article[contains(@class, "card")]')
    assert [c.xpath("string(h3)") for c in cards] == ["one", "two", "three"]
    assert all(len(c.xpath(".//img")) == 3 for c in cards)  # the three analysed frames, as JPEG data URIs
    assert all(img.get("src").startswith("data:image/jpeg;base64,") for img in doc.xpath("//img"))
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing fetched
    assert "01:00:00:20" in cards[1].xpath('string(.//p[@class="tc"])')  # source timecode of the 23.976 clip
    assert not doc.xpath('//svg[@id="chart"]') and "No shot framing labels" in text  # the fake model has none
    assert (page / "again.html").read_text().count('<article class="card"') == 3  # report TAGGED: the same cards


def test_filters_work_in_headless_chromium(page):
    cards = page / "cut.html"
    first = lxml_html.fromstring(cards.read_text()).xpath('//article[contains(@class, "card")]')[0]
    label = first.get("data-test-frame")  # the first clip's label in the stand-in category
    dom = _chromium(cards.as_uri() + f"#test-frame={label}", "--dump-dom")
    assert dom.count('class="card"') + dom.count('class="card hidden"') == 3
    shown = re.search(r'id="shown">(\d+)', dom).group(1)
    assert shown == str(dom.count('class="card"')) and dom.count('class="card hidden"') >= 1
    shot = page / "shot.png"
    _chromium(cards.as_uri(), f"--screenshot={shot}", "--window-size=1200,900")
    assert shot.exists() and shot.stat().st_size > 10000


def test_the_chart_gives_each_shot_size_its_share_of_the_cut(tmp_path):
    """a (Close Up, 50 frames), b (Long, 50), c (Extreme Close Up, 10) on V1; d (Close Up, 20) on V2."""
    doc = lxml_html.fromstring(build_html(layout(tagged_cut(tmp_path)), {}, "t"))
    (chart,) = doc.xpath('//svg[@id="chart"]')
    labels = [t.text for t in chart.xpath(".//text")]
    assert labels == ["Extreme Close Up", "8% (1 clip)", "Close Up", "54% (2 clips)", "Long Shot", "38% (1 clip)"]
    widths = [float(r.get("width")) for r in chart.xpath(".//rect")]
    assert widths == [pytest.approx(320 * 10 / 130, abs=0.1), pytest.approx(320 * 70 / 130, abs=0.1),
                      pytest.approx(320 * 50 / 130, abs=0.1)]


def test_the_chart_labels_fit_in_chromium_even_at_100_percent(tmp_path):
    """Measured by the browser: every chart label ends inside the chart (it was clipped: "100% (3 clips")."""
    from cinemanet_edit_adapters.html_report import _chart

    svg = _chart({"Close Up": 1000}, {"Close Up": 10000}, 1000, 24)
    page = tmp_path / "chart.html"
    page.write_text("<!DOCTYPE html><html><body><style>svg text { font-size: 12px; }</style>" + svg +
                    "<script>const s = document.getElementById('chart'); let right = 0;"
                    "for (const t of s.querySelectorAll('text')) right = Math.max(right, t.getBBox().x"
                    " + t.getBBox().width);"
                    "document.body.setAttribute('data-right', right);"
                    "document.body.setAttribute('data-width', s.width.baseVal.value);</script></body></html>")
    dom = _chromium(page.as_uri(), "--dump-dom", "--virtual-time-budget=2000")
    right = float(re.search(r'data-right="([\d.]+)"', dom).group(1))
    width = float(re.search(r'data-width="([\d.]+)"', dom).group(1))
    assert "100% (10000 clips)" in svg and 0 < right <= width


def test_a_label_left_out_reads_as_left_out_with_its_reason():
    """A 100% label that is never written by default was shown "Straight (uncertain)" with a full bar."""
    from cinemanet_edit_adapters.html_report import _label_row

    from cinemanet_edit.decide import NEVER_REASON

    left = lxml_html.fromstring(_label_row({"title": "Shot Angle", "value": "Straight (not written)",
                                            "confidence": 0.998, "unsure": True, "why": NEVER_REASON}))
    assert "unsure" in left.get("class") and left.xpath('string(.//span[@class="why"])') == NEVER_REASON
    written = lxml_html.fromstring(_label_row({"title": "Shot Angle", "value": "Low", "confidence": 0.9,
                                               "unsure": False, "why": ""}))
    assert written.get("class") == "label" and not written.xpath('.//span[@class="why"]')


def test_a_thousand_shots_stay_light(tmp_path):
    tl = tagged_cut(tmp_path)
    track = tl.tracks[0]
    base = list(track)[0]
    for i in range(997):
        clip = base.deepcopy()
        clip.name = f"shot {i:04d}"
        track.append(clip)
    cut = layout(tl)
    thumbs = {}
    started = time.perf_counter()
    text = build_html(cut, thumbs, "big")
    built = time.perf_counter() - started
    path = tmp_path / "big.html"
    path.write_text(text)
    assert text.count('<article class="card"') == 1001 and built < 10
    if CHROMIUM:
        started = time.perf_counter()
        dom = _chromium(path.as_uri() + "#shot-framing=shot.framing.close-up", "--dump-dom")
        load = time.perf_counter() - started
        assert dom.count('class="card"') == 999 and load < 60  # a, d and the 997 copies of a; the start included
    print(f"1,001 cards: {len(text) / 1e6:.2f} MB of HTML without thumbnails, built in {built:.2f} s")
