"""Search inside Arrow: the vectorised query equals `select.matches` row for row; damaged, foreign and linked
files are named and left out; compaction keeps every row, stays resumable and loses nothing to a concurrent
index. Rows are generated (no media), so these run in seconds."""

from __future__ import annotations

import json
import os
import random

import pytest

from cinemanet_edit import cli
from cinemanet_edit.catalogue import Catalogue, ShotRow
from cinemanet_edit.compaction import compact
from cinemanet_edit.errors import CinemanetError
from cinemanet_edit.search import search, search_lines
from cinemanet_edit.select import matches, parse_query
from cinemanet_edit.taxonomy import CINEMATOGRAPHY
from cinemanet_edit.types import CategoryLabel

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

CATEGORIES = [c.id for c in CINEMATOGRAPHY]
QUERIES = [
    "shot.framing = close-up", "shot.framing in (close-up, medium) and shot.angle = low",
    "shot.subject has person", "shot.subject has faces or not shot.type is two-up",
    "shot.framing != long", "not (shot.angle in (high, low) or shot.subject = text)",
    "shot.subject in (animal, face)", "shot.type not in (master, portrait)",
]


def _label(rng: random.Random, category) -> CategoryLabel:
    ids = [label.id for label in category.labels]
    scores = {i: round(rng.random(), 3) for i in rng.sample(ids, rng.randint(0, len(ids)))}
    top = rng.choice(ids)
    holds = tuple(rng.sample([i for i in ids if i != top], rng.randint(0, 2))) if category.multi_label else ()
    decided = rng.random() < 0.7
    return CategoryLabel(category.id, top, top, round(rng.random(), 3), scores, uncertain=rng.random() < 0.2,
                         threshold=0.4 if decided else None, not_applicable=rng.random() < 0.05, holds=holds)


def _rows(path: str, count: int, rng: random.Random, fingerprint: str = "f") -> list[ShotRow]:
    return [ShotRow(path=path, fingerprint=fingerprint, model="m", shot=i + 1, shots=count, start_seconds=i,
                    end_seconds=i + 1, start_frame=24 * i, end_frame=24 * i + 24, rate=24.0,
                    start_timecode="00:00:00:00", end_timecode="00:00:01:00", media_start_frame=0,
                    media_frames=24 * count,
                    labels={c.id: _label(rng, c) for c in CINEMATOGRAPHY if rng.random() < 0.9})
            for i in range(count)]


@pytest.fixture()
def generated(tmp_path):
    rng = random.Random(7)
    folder = tmp_path / "cat"
    catalogue = Catalogue(folder)
    rows = []
    for n in range(12):
        part = _rows(f"/media/reel{n:02d}.mov", rng.randint(1, 30), rng)
        catalogue.add(part, CATEGORIES)
        rows += part
    stored = catalogue.rows()  # as stored: float32 scores, titles from the taxonomy
    assert [(r.path, r.shot) for r in stored] == sorted((r.path, r.shot) for r in rows)
    return folder, stored


def _expected(rows, query, min_confidence=0.0):
    node = parse_query(query)
    return [(r.path, r.shot) for r in rows if matches(node, r.labels, min_confidence)]


def _found(folder, query, min_confidence=0.0):
    return [(r.path, r.shot) for r in search(folder, query, min_confidence).rows]


@pytest.mark.parametrize("min_confidence", [0.0, 0.5])
@pytest.mark.parametrize("query", QUERIES)
def test_the_arrow_query_matches_what_select_matches_row_for_row(generated, query, min_confidence):
    folder, rows = generated
    expected = _expected(rows, query, min_confidence)
    assert 0 < len(expected) < len(rows)  # the query decides something on these rows
    assert _found(folder, query, min_confidence) == expected


def test_hits_come_back_whole(generated):
    folder, _ = generated
    by_key = {(r.path, r.shot): r for r in Catalogue(folder).rows()}  # as stored (float32 scores, titles)
    for hit in search(folder, "shot.angle = low").rows:
        assert hit == by_key[(hit.path, hit.shot)]


def _same_lines(folder) -> int:
    """search_lines' text (from the hits' columns) equals the hits' rows' lines, for every query; hits seen."""
    seen = 0
    for query in QUERIES:
        rows = search(folder, query).rows
        assert search_lines(folder, query).lines == [r.line() for r in rows]
        seen += len(rows)
    return seen


def test_text_hits_from_the_columns_are_the_rows_lines(generated):
    folder, _ = generated
    part = Catalogue(folder).parts()[0]
    table = pq.read_table(part)  # one part as written before decisions were stored: no _uncertain column
    pq.write_table(table.select([n for n in table.column_names if not n.endswith(("_uncertain", "_holds"))]), part)
    assert _same_lines(folder) > 100
    compact(Catalogue(folder))
    Catalogue(folder).add(_rows("/media/reel03.mov", 4, random.Random(2), fingerprint="g"), CATEGORIES)
    assert _same_lines(folder) > 100  # compacted rows, and a newer part that replaces some of them


def _keys(rows) -> list[tuple[str, int, str]]:
    return sorted((r.path, r.shot, r.fingerprint) for r in rows)


def _rows_path(part, rows) -> str:
    return next(r.path for r in rows if Catalogue.part_name(r.path) == part.name)


def _damage(folder, tmp_path):
    parts = Catalogue(folder).parts()
    data = parts[0].read_bytes()
    parts[0].write_bytes(data[: len(data) // 2])  # truncated: no footer
    pq.write_table(pa.table({"x": [1, 2, 3]}), folder / "notes.parquet")  # someone else's Parquet file
    (tmp_path / "elsewhere.parquet").write_bytes(parts[1].read_bytes())
    os.symlink(tmp_path / "elsewhere.parquet", folder / "part-link.parquet")
    return parts[0]


def test_a_damaged_a_foreign_and_a_linked_file_are_named_once_and_the_rest_searched(generated, tmp_path, capsys):
    folder, rows = generated
    truncated = _damage(folder, tmp_path)
    damaged_rows = {r.path for r in Catalogue(folder).rows()}
    kept = [r for r in rows if r.path in damaged_rows]
    assert len({r.path for r in kept}) == len({r.path for r in rows}) - 1
    assert cli.main(["search", str(folder), "--where", "shot.framing = close-up"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == len(_expected(kept, "shot.framing = close-up"))
    warnings = err.strip().splitlines()
    assert sorted(line.split(": left out")[0].removeprefix("warning: ") for line in warnings) == sorted(
        str(p) for p in (truncated, folder / "notes.parquet", folder / "part-link.parquet"))
    assert all("Traceback" not in line and "internal error" not in line for line in warnings)


def test_the_query_language_bounds_nesting_and_length(generated, capsys):
    folder, _ = generated
    deep = "(" * 1000 + "shot.framing = medium" + ")" * 1000
    assert cli.main(["search", str(folder), "--where", deep]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nested" in err
    assert cli.main(["search", str(folder), "--where", "not " * 600 + "shot.framing = medium"]) == 2
    assert "nested" in capsys.readouterr().err
    long = " or ".join(["shot.framing = medium"] * 2000)
    assert cli.main(["search", str(folder), "--where", long]) == 2
    assert "long" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ compaction


def test_compaction_keeps_every_row_and_every_answer(generated):
    folder, rows = generated
    before = {q: _found(folder, q) for q in QUERIES}
    report = compact(Catalogue(folder))
    assert report.rows == len(rows) and report.parts_folded == 12 and len(report.files) == 1
    assert Catalogue(folder).parts() == []
    assert Catalogue(folder).rows() == rows
    assert {q: _found(folder, q) for q in QUERIES} == before
    entries = Catalogue(folder).entries()
    assert entries == {r.path: ("f", "m") for r in rows}  # still resumable: index knows what it has


def test_a_file_indexed_again_after_compaction_wins_and_a_second_compaction_folds_it(generated):
    folder, rows = generated
    compact(Catalogue(folder))
    again = _rows("/media/reel03.mov", 2, random.Random(1), fingerprint="g")
    Catalogue(folder).add(again, CATEGORIES)
    expected = _keys([r for r in rows if r.path != "/media/reel03.mov"] + again)
    assert _keys(Catalogue(folder).rows()) == expected
    assert Catalogue(folder).entries()["/media/reel03.mov"] == ("g", "m")
    report = compact(Catalogue(folder))
    assert report.rows == len(expected) and _keys(Catalogue(folder).rows()) == expected
    assert sorted(p.name for p in folder.glob("compact-*.parquet")) == ["compact-2-0.parquet"]


def test_a_part_rewritten_while_compacting_is_kept_and_wins(generated, monkeypatch):
    folder, rows = generated
    from cinemanet_edit import compaction

    newer = _rows("/media/reel05.mov", 3, random.Random(2), fingerprint="new")
    real = compaction._remove_folded

    def index_meanwhile(*args):  # an index run finishing a file between the manifest and the clean-up
        Catalogue(folder).add(newer, CATEGORIES)
        return real(*args)

    monkeypatch.setattr(compaction, "_remove_folded", index_meanwhile)
    report = compact(Catalogue(folder))
    assert report.parts_kept == 1 and report.parts_folded == 11
    expected = _keys([r for r in rows if r.path != "/media/reel05.mov"] + newer)
    assert _keys(Catalogue(folder).rows()) == expected


def test_a_compaction_stopped_half_way_changes_nothing(generated, monkeypatch):
    folder, rows = generated
    from cinemanet_edit import compaction

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compaction, "atomic_write", crash)  # the manifest is never written
    with pytest.raises(KeyboardInterrupt):
        compact(Catalogue(folder))
    monkeypatch.undo()
    assert list(folder.glob("compact-*.parquet"))  # written, but no manifest names it
    assert Catalogue(folder).rows() == rows
    compact(Catalogue(folder))  # the next one clears the leftover
    assert Catalogue(folder).rows() == rows
    assert json.loads((folder / "_compacted.json").read_text())["files"] == ["compact-1-0.parquet"]


def test_two_compactions_at_once_is_a_clear_error(generated):
    import fcntl

    folder, _ = generated
    with open(folder / "_compact.lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(CinemanetError, match="another compaction"):
            compact(Catalogue(folder))


def test_compaction_leaves_a_damaged_part_where_it_is(generated, tmp_path):
    folder, rows = generated
    truncated = _damage(folder, tmp_path)
    report = compact(Catalogue(folder))
    assert truncated.exists() and len(report.skipped) == 3
    readable = [r for r in rows if r.path != _rows_path(truncated, rows)]
    assert len(Catalogue(folder).rows()) == report.rows == len(readable)


def test_compacted_parts_of_older_schemas_read_as_undecided(tmp_path):
    folder = tmp_path / "old"
    rows = _rows("/media/a.mov", 5, random.Random(3))
    Catalogue(folder).add(rows, CATEGORIES)
    part = Catalogue(folder).parts()[0]
    table = pq.read_table(part)
    keep = [n for n in table.column_names if not n.endswith(("_threshold", "_uncertain", "_holds"))]
    pq.write_table(table.select(keep), part)  # what parts written before decisions were stored look like
    old = Catalogue(folder).rows()
    compact(Catalogue(folder))
    assert Catalogue(folder).rows() == old
    assert all(label.threshold is None for r in old for label in r.labels.values())


def test_a_hostile_manifest_takes_nothing_in(generated, tmp_path):
    folder, rows = generated
    outside = tmp_path / "outside"
    outside.mkdir()
    pq.write_table(pa.table({"x": [1]}), outside / "compact-9-0.parquet")
    for text in ('{"generation": 1, "files": ["../outside/compact-9-0.parquet"]}',
                 '{"generation": 1e999, "files": "compact-1-0.parquet"}', "[" * 100000, "not json"):
        (folder / "_compacted.json").write_text(text)
        assert Catalogue(folder).manifest()["files"] == [] and len(Catalogue(folder).rows()) == len(rows)
    (folder / "_compacted.json").unlink()
    (folder / "_compacted.json").symlink_to(outside / "m.json")
    (outside / "m.json").write_text('{"generation": 3, "files": ["compact-9-0.parquet"]}')
    assert Catalogue(folder).manifest() == {"generation": 0, "files": []}


def test_a_hit_prints_on_one_line_whatever_its_path(tmp_path):
    rows = _rows("/media/odd\nname\tx.mov", 1, random.Random(5))
    assert "\n" not in rows[0].line() and rows[0].line().count("\t") == 3


def test_a_part_with_columns_of_the_wrong_type_is_left_out(generated, capsys):
    folder, rows = generated
    part = Catalogue(folder).parts()[0]
    table = pq.read_table(part)
    for name, values in (("shot", pa.array(["one"] * table.num_rows)),
                         ("shot_framing", pa.array(list(range(table.num_rows))))):
        bad = table.set_column(table.column_names.index(name), name, values)
        pq.write_table(bad.replace_schema_metadata(table.schema.metadata), part)
        assert cli.main(["search", str(folder), "--where", "shot.framing != close-up"]) == 0
        err = capsys.readouterr().err
        assert "wrong type" in err or "not text" in err
        assert "internal error" not in err and "Traceback" not in err


def test_a_hit_line_names_only_the_labels_tag_writes():
    from dataclasses import replace

    (row,) = _rows("/media/a.mov", 1, random.Random(5))
    sure = CategoryLabel("shot.framing", "shot.framing.medium", "Medium", 0.97, {"shot.framing.medium": 0.97})
    unsure = CategoryLabel("shot.type", "shot.type.over-the-shoulder", "Over the Shoulder", 0.92, {},
                           uncertain=True, reason="below its threshold 1.00")
    line = replace(row, labels={"shot.framing": sure, "shot.type": unsure}).line()
    assert line.endswith("\tMedium 97%") and "Over the Shoulder" not in line
