import pytest

from cinemanet_edit import timecode
from cinemanet_edit.errors import CinemanetError


@pytest.mark.parametrize("rate,frames,text", [
    (24, 86400, "01:00:00:00"),
    (23.976, 86400, "01:00:00:00"),
    (25, 90000, "01:00:00:00"),
    (29.97, 107892, "01:00:00;00"),
    (29.97, 1800, "00:01:00;02"),
    (29.97, 1799, "00:00:59;29"),
    (29.97, 17982, "00:10:00;00"),
    (59.94, 215784, "01:00:00;00"),
    (59.94, 3600, "00:01:00;04"),
    (30, 108000, "01:00:00:00"),
])
def test_known_timecodes(rate, frames, text):
    assert timecode.render(frames, rate) == text
    assert timecode.parse(text, rate) == frames


@pytest.mark.parametrize("rate", [29.97, 59.94])
def test_drop_frame_round_trip_over_two_hours(rate):
    for frames in range(0, 2 * 3600 * 60, 997):
        assert timecode.parse(timecode.render(frames, rate), rate) == frames


def test_non_drop_at_2997_when_colons():
    assert timecode.parse("01:00:00:00", 29.97) == 108000
    assert timecode.render(108000, 29.97, drop_frame=False) == "01:00:00:00"


def test_rates():
    assert timecode.exact_rate(23.976) == timecode.exact_rate(24000 / 1001)
    assert timecode.nominal_rate(59.94) == 60
    assert timecode.is_ntsc(29.97) and not timecode.is_ntsc(30) and not timecode.is_ntsc(25)


def test_bad_timecode():
    with pytest.raises(CinemanetError):
        timecode.parse("1:00", 24)
