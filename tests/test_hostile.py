"""Hostile and faulty inputs, generated here: every one ends in a clear one-line message or a result, never a
traceback, a crash, a hang, a changed input, a half-written output or a network request.

The corpus runs through ``cli.main`` in-process with the frame-id stand-in for the network (crash-prone cases,
which could take the interpreter down, run in a subprocess). Each case is timed out, its inputs are hashed
before and after, its output folder is checked for leftovers, and its messages for tracebacks.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from conftest import make_video
from fakes import frame_id_analyzer

from cinemanet_edit import cli

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ("o.otio", "o.edl", "o.xml", "o.fcpxml", "o.csv", "o.ale")


@dataclass
class Case:
    name: str
    argv: list[str]  # without the program name; "{out}" is the case's output folder
    codes: tuple[int, ...] = (0, 1, 2)
    expect: str = ""  # a piece of the one-line message, when it fails
    subprocess: bool = False
    inputs: list[Path] = field(default_factory=list)


def _timeline(path: Path, clips, rate: float = 24, start=None) -> Path:
    tl = otio.schema.Timeline(name=path.stem)
    if start is not None:
        tl.global_start_time = start
    tl.tracks.append(otio.schema.Track(children=clips))
    otio.adapters.write_to_file(tl, str(path))
    return path


def _clip(name: str, url: str | None, start=0.0, duration=24.0, rate=24.0, available=None):
    ref = otio.schema.ExternalReference(target_url=url, available_range=available) if url else \
        otio.schema.MissingReference()
    return otio.schema.Clip(name=name, media_reference=ref, source_range=TR(RT(start, rate), RT(duration, rate)))


def _edl(path: Path, body: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(body.encode(encoding))
    return path


def corpus(folder: Path, media: Path) -> list[Case]:
    """About sixty hostile or faulty inputs and arguments."""
    f = folder
    tag = ["tag", "-q"]
    cases: list[Case] = []

    def add(name, argv, **kw):
        cases.append(Case(name, argv, **kw))

    def tag_all(name, path, **kw):
        argv = [*tag, str(path)] + [x for o in OUTPUTS for x in ("-o", "{out}/" + o)]
        add(name, argv, inputs=[path], **kw)

    # --- not files at all
    fifo = f / "pipe.otio"
    os.mkfifo(fifo)
    fifo_edl, fifo_mov = f / "pipe.edl", f / "pipe.mov"
    os.mkfifo(fifo_edl)
    os.mkfifo(fifo_mov)
    add("fifo timeline", [*tag, str(fifo), "-o", "{out}/o.otio"], codes=(2,), expect="not a regular")
    add("fifo edl", [*tag, str(fifo_edl), "-o", "{out}/o.otio"], codes=(2,), expect="not a regular")
    add("fifo media", [*tag, str(fifo_mov), "-o", "{out}/o.otio"], codes=(2,), expect="not a regular")
    add("classify fifo", ["classify", str(fifo_mov)], codes=(1,), expect="not a regular")
    zero = f / "zero.otio"
    zero.symlink_to("/dev/zero")
    add("/dev/zero through a symlink", [*tag, str(zero), "-o", "{out}/o.otio"], codes=(2,), expect="not a regular")
    add("a folder as media", [*tag, str(f), "-o", "{out}/o.otio"], codes=(2,))
    add("missing input", [*tag, str(f / "nope.otio"), "-o", "{out}/o.otio"], codes=(2,), expect="no such file")

    # --- broken and hostile timelines
    deep = f / "deep.otio"
    deep.write_text("[" * 200000)
    add("JSON nested 200000 deep", [*tag, str(deep), "-o", "{out}/o.otio"], codes=(2,), expect="nested",
        subprocess=True, inputs=[deep])
    def nested_stacks(n: int) -> str:
        clip = json.loads(otio.adapters.write_to_string(_clip("deep", media.as_uri())))
        text = json.dumps(clip)
        for _ in range(n):
            text = '{"OTIO_SCHEMA": "Stack.1", "children": [' + text + "]}"
        return '{"OTIO_SCHEMA": "Timeline.1", "tracks": ' + text + "}"

    deep_stacks = f / "stacks.otio"
    deep_stacks.write_text(nested_stacks(3000))
    add("3000 nested stacks", [*tag, str(deep_stacks), "-o", "{out}/o.otio"], codes=(2,), subprocess=True,
        inputs=[deep_stacks])
    some_stacks = f / "stacks150.otio"
    some_stacks.write_text(nested_stacks(150))
    tag_all("150 nested stacks", some_stacks, codes=(0,), subprocess=True)
    bomb = f / "bomb.otioz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("content.otio", " " * (300 * 2**20))
        archive.writestr("version.txt", "1.0.0")
    add("otioz zip bomb", [*tag, str(bomb), "-o", "{out}/o.otio"], codes=(2,), expect="too large", subprocess=True,
        inputs=[bomb])
    latin = f / "latin1.otio"
    latin.write_bytes(_timeline(f / "x.otio", [_clip("A", None)]).read_bytes().replace(b'"A"', b'"Caf\xe9"'))
    add("Latin-1 bytes in an .otio", [*tag, str(latin), "-o", "{out}/o.otio"], codes=(1, 2), inputs=[latin])
    truncated = f / "truncated.otio"
    truncated.write_text('{"OTIO_SCHEMA": "Timeline.1", "tracks": ')
    add("truncated .otio", [*tag, str(truncated), "-o", "{out}/o.otio"], codes=(2,), inputs=[truncated])
    for label, value in (("nan", float("nan")), ("inf", float("inf")), ("-inf", -float("inf"))):
        path = _timeline(f / f"range_{label}.otio", [_clip("A", media.as_uri(), start=value)])
        tag_all(f"{label} source range", path)
        path = _timeline(f / f"avail_{label}.otio", [_clip("A", media.as_uri(), available=TR(RT(value, 24),
                                                                                                 RT(100, 24)))])
        tag_all(f"{label} available range", path)
    rate0 = _timeline(f / "rate0.otio", [_clip("A", media.as_uri(), rate=0.0)])
    tag_all("rate-0 source range", rate0)
    negative = _timeline(f / "negative.otio", [_clip("A", media.as_uri(), start=-500)])
    tag_all("range before the media", negative)
    names = _timeline(f / "names.otio", [_clip("ctl\x00\x07\x1b[31m\r\nname|x", media.as_uri()),
                                         _clip("=cmd|' /C calc'!A0", media.as_uri()),
                                         _clip("+HYPERLINK(\"http://x\")", media.as_uri()),
                                         _clip("@SUM(1+1)", media.as_uri())])
    tag_all("control characters and formulas in names", names)
    newline_path = f / "evil\n002  AX V C 00:00:00:00 00:00:01:00 00:00:00:00 00:00:01:00.mov"
    newline_path.write_bytes(media.read_bytes())
    injection = _timeline(f / "inject.otio", [_clip("A", newline_path.as_uri()),
                                              _clip("B", "file:///offline/x%0A002%20%20AX%20V.mov")])
    tag_all("newline in a media path", injection)
    remote = _timeline(f / "remote.otio", [_clip("A", "http://127.0.0.1:9/x.mov"),
                                           _clip("B", "https://example.invalid/y.mp4"),
                                           _clip("C", "http:/127.0.0.1:9/z.mp4"), _clip("D", "ftp://h/w.mov")])
    tag_all("remote media URLs", remote, codes=(1,))
    reused = _timeline(f / "reused.otio", [_clip(f"use {i}", media.as_uri(), start=i * 10, duration=10)
                                           for i in range(3)])
    tag_all("one shot used three times", reused, codes=(0,))
    tag_all("bare media file", media, codes=(0,))

    # --- EDLs
    event = "001  AX       V     C        00:00:00:05 00:00:01:05 01:00:00:00 01:00:01:00\n"
    tag_all("empty EDL", _edl(f / "empty.edl", ""), codes=(2,), expect="no events")
    tag_all("garbage EDL", _edl(f / "garbage.edl", "\x00\xff garbage\n" * 50, "latin-1"), codes=(2,),
            expect="no events")
    tag_all("Latin-1 EDL", _edl(f / "latin1.edl", "TITLE: Café\n\n" + event + "* FROM CLIP NAME: Café ö.mov\n",
                                "cp1252"), codes=(1,))
    tag_all("out before in", _edl(f / "backwards.edl", "TITLE: x\n\n"
                                  "001  AX       V     C        00:00:02:00 00:00:01:00 01:00:02:00 01:00:01:00\n"
                                  + event.replace("001", "002") + f"* SOURCE FILE: {media}\n"), codes=(0,))
    tag_all("EDL with huge timecodes", _edl(f / "huge.edl", "001  AX V C 99:59:59:29 99:59:59:29 00:00:00:00 "
                                            "99:59:59:29\n"), codes=(1, 2))
    tag_all("EDL CR line ends and BOM", _edl(f / "cr.edl", "\ufeffTITLE: x\r" + event.replace("\n", "\r")
                                             + f"* SOURCE FILE: {media}\r"), codes=(0,))

    # --- XML
    xxe = ('<?xml version="1.0"?><!DOCTYPE fcpxml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           '<fcpxml version="1.10"><library><event><project name="&x;"><sequence><spine/></sequence></project>'
           '</event></library></fcpxml>')
    tag_all("XXE in FCPXML", _edl(f / "xxe.fcpxml", xxe), codes=(0, 1, 2))
    laughs = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + ']><xmeml version="4"><sequence><name>&i;</name></sequence></xmeml>')
    tag_all("entity bomb in FCP7 XML", _edl(f / "laughs.xml", laughs), codes=(1, 2))
    unknown_asset = ('<?xml version="1.0"?><fcpxml version="1.10"><resources><format id="r1" '
                     'frameDuration="1/24s"/></resources><library><event><project name="p"><sequence format="r1">'
                     '<spine><asset-clip ref="r9" offset="0s" start="0s" duration="2s" name="ghost"/></spine>'
                     '</sequence></project></event></library></fcpxml>')
    tag_all("FCPXML clip with an unknown asset", _edl(f / "ghost.fcpxml", unknown_asset), codes=(1,))
    tag_all("not XML at all", _edl(f / "binary.xml", "\x00\x01\x02<<<"), codes=(2,))
    nan_times = unknown_asset.replace('ref="r9"', 'ref="r1"').replace('duration="2s"', 'duration="NaNs"')
    tag_all("FCPXML with NaN times", _edl(f / "nan.fcpxml", nan_times), codes=(1, 2))
    negative_xml = ('<xmeml version="4"><sequence><name>n</name><rate><timebase>24</timebase></rate><media><video>'
                    '<track><clipitem id="c1"><name>neg</name><rate><timebase>24</timebase></rate><start>10</start>'
                    '<end>-5</end><in>-100</in><out>-200</out></clipitem></track></video></media></sequence></xmeml>')
    tag_all("FCP7 XML with negative times", _edl(f / "negative.xml", negative_xml), codes=(1, 2))
    bundle = f / "empty.fcpxmld"
    bundle.mkdir()
    tag_all("FCPXML bundle without Info.fcpxml", bundle, codes=(2,))
    otiod = f / "huge.otiod"
    otiod.mkdir()
    (otiod / "content.otio").write_text(" " * (201 * 2**20))
    tag_all("otiod bundle too large", otiod, codes=(2,), expect="too large")
    not_zip = f / "fake.otioz"
    not_zip.write_bytes(b"PK\x03\x04 not really a zip")
    tag_all("otioz that is not a zip", not_zip, codes=(2,))
    tag_all("EDL with audio events only", _edl(f / "audio.edl", "001  AX       A     C        00:00:00:00 "
                                               "00:00:01:00 01:00:00:00 01:00:01:00\n"), codes=(0, 1))
    many = "".join(f"{i:03d}  AX       V     C        00:00:00:00 00:00:00:10 {10 + i // 3600:02d}:"
                   f"{i // 60 % 60:02d}:{i % 60:02d}:00 {10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}:10\n"
                   for i in range(5000))
    tag_all("EDL of 5000 events without media", _edl(f / "many.edl", many), codes=(1,))
    zero_length = _timeline(f / "zero_length.otio", [_clip("Z", media.as_uri(), duration=0)])
    tag_all("zero-length clip", zero_length, codes=(0, 1))
    huge_rate = _timeline(f / "huge_rate.otio", [_clip("H", media.as_uri(), rate=1e300, duration=1e300)])
    tag_all("absurd rate", huge_rate, codes=(0, 1))

    # --- arguments
    good = _timeline(f / "good.otio", [_clip("A", media.as_uri())])
    for value in ("nan", "inf", "0.0001", "-24", "abc"):
        add(f"--rate {value}", [*tag, str(good), "-o", "{out}/o.otio", "--rate", value], codes=(2,))
    for value in ("inf", "nan", "0", "-1"):
        add(f"--every {value}", [*tag, str(good), "-o", "{out}/o.otio", "--every", value], codes=(2,))
    add("--every 1e-12", [*tag, str(good), "-o", "{out}/o.otio", "--every", "1e-12"], codes=(0,))
    add("--samples 100000", [*tag, str(good), "-o", "{out}/o.otio", "--samples", "100000"], codes=(0,))
    add("output in a folder that cannot be written", [*tag, str(good), "-o", "/proc/o.otio"], codes=(2,),
        expect="cannot write")
    add("output over the input", [*tag, str(good), "-o", str(good), "--force"], codes=(2,), expect="overwrite")
    add("two outputs, one file", [*tag, str(good), "-o", "{out}/a.edl", "-o", "{out}/a.V2.edl"], codes=(0, 2))
    add("unknown output format", [*tag, str(good), "-o", "{out}/o.docx"], codes=(2,), expect="unknown output")

    # --- media
    svg = f / "images" / "drawing.png"
    svg.parent.mkdir()
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    (f / "images" / "real.mov").write_bytes(media.read_bytes())
    (f / "images" / "empty.mp4").write_bytes(b"")
    (f / "images" / "noise.mov").write_bytes(os.urandom(50000))
    add("classify a folder with broken files", ["classify", str(f / "images")], codes=(1,))
    truncated_media = f / "cut_short.mov"
    truncated_media.write_bytes(media.read_bytes()[: len(media.read_bytes()) // 2])
    tag_all("media cut short", _timeline(f / "short.otio", [_clip("A", truncated_media.as_uri(), duration=70)]),
            codes=(0, 1))
    add("classify a URL", ["classify", "http://127.0.0.1:9/x.mp4"], codes=(1,), expect="not a local file")
    return cases


def _digest(path: Path) -> str | None:
    if path.is_symlink() or not path.exists() or not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Timeout(Exception):
    pass


def _run_in_process(argv: list[str], capsys, seconds: int = 60) -> tuple[int, str]:
    def alarm(_signum, _frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    captured = capsys.readouterr()
    return code, captured.err


def _run_in_subprocess(argv: list[str], seconds: int = 60) -> tuple[int, str]:
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
    code = (limit + "import sys; from cinemanet_edit import cli; sys.exit(cli.main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=seconds,
                          env={**os.environ, "CINEMANET_RUNTIME": "keras"})
    return done.returncode, done.stderr


def test_hostile_corpus(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer())
    media = make_video(tmp_path / "m.mov", Fraction(24), 72, codec="mjpeg")
    folder = tmp_path / "corpus"
    folder.mkdir()
    cases = corpus(folder, media)
    watched = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()] + [media]
    before = {p: _digest(p) for p in watched}
    counts = {"cases": len(cases), "tracebacks": 0, "crashes": 0, "hangs": 0, "wrong exit": 0,
              "partial outputs": 0, "multi-line errors": 0}
    failures = []
    for number, case in enumerate(cases):
        out = tmp_path / f"out{number}"
        out.mkdir()
        argv = [a.replace("{out}", str(out)) for a in case.argv]
        try:
            code, err = _run_in_subprocess(argv) if case.subprocess else _run_in_process(argv, capsys)
        except (_Timeout, subprocess.TimeoutExpired):
            counts["hangs"] += 1
            failures.append(f"{case.name}: hung")
            continue
        problem = None
        if code < 0 or code > 2 and code not in (130, 143):
            counts["crashes"] += 1
            problem = f"crashed ({code})"
        elif "Traceback" in err or "internal error" in err:
            counts["tracebacks"] += 1
            problem = "traceback"
        elif code not in case.codes:
            counts["wrong exit"] += 1
            problem = f"exit {code}, expected {case.codes}"
        elif case.expect and case.expect not in err:
            problem = f"message lacks {case.expect!r}"
        errors = [line for line in err.splitlines() if line.startswith("cinemanet-edit: ")]
        if len(errors) > 1:
            counts["multi-line errors"] += 1
            problem = problem or "more than one error line"
        leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
        if leftovers:
            counts["partial outputs"] += 1
            problem = problem or f"left {leftovers}"
        if problem:
            failures.append(f"{case.name}: {problem}: {err.strip()[:300]}")
    modified = [str(p) for p in watched if _digest(p) != before[p]]
    counts["inputs modified"] = len(modified)
    print(json.dumps(counts))
    assert not failures and not modified, "\n".join(failures + modified)
    assert len(cases) >= 60


def test_outputs_of_hostile_names_are_valid(tmp_path, monkeypatch):
    """The names case again, checked with the format readers: one event per clip, XML that parses, CSV cells
    that are not formulas."""
    import csv
    import io

    import pycmx
    from lxml import etree

    monkeypatch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer())
    media = make_video(tmp_path / "m.mov", Fraction(24), 72, codec="mjpeg")
    evil = tmp_path / "evil\n002  AX V C.mov"
    evil.write_bytes(media.read_bytes())
    src = _timeline(tmp_path / "names.otio", [_clip("ctl\x07\r\nname|x", media.as_uri()),
                                              _clip("=cmd|' /C calc'!A0", evil.as_uri())])
    outs = [tmp_path / o for o in OUTPUTS]
    assert cli.main(["tag", "-q", str(src)] + [x for o in outs for x in ("-o", str(o))]) == 0
    assert len(list(pycmx.parse_cmx3600(io.StringIO((tmp_path / "o.edl").read_text())).events)) == 2
    etree.parse(str(tmp_path / "o.fcpxml"))
    assert len(list(otio.adapters.read_from_file(str(tmp_path / "o.xml"), "fcp_xml").find_clips())) == 2
    rows = list(csv.DictReader((tmp_path / "o.csv").open()))
    assert [r["clip"][:2] for r in rows] == ["ct", "'="]
    assert "|" in rows[0]["clip"]  # kept: only characters that break a format are replaced


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - the standard library's name
        _Recorder.requests.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_tag_and_classify_open_no_network_connection(tmp_path, monkeypatch, capsys):
    """A local server records every request while tag and classify meet URLs, URL-like paths, an HLS playlist
    and a reference to remote media: it must record none."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    _Recorder.requests = []
    try:
        monkeypatch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer())
        playlist = tmp_path / "stream.m3u8"
        playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{base}/seg0.ts\n#EXT-X-ENDLIST\n")
        concat = tmp_path / "list.ffconcat"
        concat.write_text(f"ffconcat version 1.0\nfile '{base}/a.mp4'\n")
        src = _timeline(tmp_path / "remote.otio", [_clip("A", f"{base}/a.mov"), _clip("B", playlist.as_uri()),
                                                   _clip("C", f"http:/127.0.0.1:{server.server_port}/c.mov"),
                                                   _clip("D", concat.as_uri())])
        assert cli.main(["tag", "-q", str(src), "-o", str(tmp_path / "o.otio")]) == 1
        assert cli.main(["classify", f"{base}/x.mp4", str(playlist), str(concat),
                         f"http:/127.0.0.1:{server.server_port}/y.mp4"]) == 1
        capsys.readouterr()
    finally:
        server.shutdown()
    assert _Recorder.requests == []


def test_sigterm_stops_like_ctrl_c_and_keeps_the_cache(tmp_path, monkeypatch, capsys):
    from fakes import FrameIdBackbone

    media = make_video(tmp_path / "long.mov", Fraction(24), 240, codec="mjpeg")
    src = _timeline(tmp_path / "t.otio", [_clip("A", media.as_uri(), duration=240)])
    slow = FrameIdBackbone.__call__

    def slowly(self, x):
        threading.Event().wait(0.05)
        return slow(self, x)

    monkeypatch.setattr(FrameIdBackbone, "__call__", slowly)
    monkeypatch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer(batch_size=1))
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        code = cli.main(["tag", "-q", str(src), "-o", str(tmp_path / "o.otio"), "--samples", "200"])
    finally:
        timer.cancel()
    assert code == 143 and "terminated" in capsys.readouterr().err
    assert not (tmp_path / "o.otio").exists() and not list(tmp_path.glob(".o.otio*"))
    again = frame_id_analyzer()
    from cinemanet_edit.pipeline import SamplingPolicy, tag_file

    tag_file(src, tmp_path / "b.otio", analyzer=again, policy=SamplingPolicy(samples=200))
    assert again.cached_frames > 0  # what ran before the signal was kept


def test_resolve_install_leaves_a_foreign_script_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "platform", "linux")
    folder = tmp_path / ".local/share/DaVinciResolve/Fusion/Scripts/Utility"
    folder.mkdir(parents=True)
    theirs = folder / "CinemaNet Tag Timeline.py"
    theirs.write_text("print('someone else')\n")
    assert cli.main(["resolve", "install"]) == 2
    assert "not installed by cinemanet-edit" in capsys.readouterr().err
    assert theirs.read_text() == "print('someone else')\n"


def test_resolve_engine_ignores_a_package_in_the_current_folder(tmp_path, monkeypatch):
    """A cinemanet_edit folder where Resolve runs the script must not run: the engine starts isolated."""
    from cinemanet_edit.resolve import install, script

    trap = tmp_path / "cinemanet_edit"
    trap.mkdir()
    marker = tmp_path / "pwned"
    (trap / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    (trap / "__main__.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    namespace: dict = {}
    exec(compile(install.rendered_script(sys.executable).replace('if __name__ == "__main__":', "if False:"),
                 "installed", "exec"), namespace)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    lines = []
    with pytest.raises(namespace["ScriptError"]):  # an empty job is refused by the real engine
        namespace["run_engine"]({"version": 0}, lines.append)
    assert not marker.exists()
    assert any("unsupported job version" in line for line in lines)
    assert script.BOOT == namespace["BOOT"]
