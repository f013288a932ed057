"""Write ``film.csv``: ../shared/data/film/labels.csv with a ``group`` column, for ``cinemanet-edit train``.

HOHA frames were snapped with VLC; their file names carry the snapshot time. Snapshots less than ten
minutes apart come from one viewing session (one film, often one scene), so they form one group and never
straddle a train/validation split: frames of one scene look alike without being near-copies. The
MovieShotClassification stills carry no such information and get no group (near-duplicate hashing still
groups their copies). The images themselves stay in ../shared: this file only names them.

    python models/data/make_film_csv.py ../shared/data/film models/data/film.csv
"""

from __future__ import annotations

import csv
import datetime
import re
import sys
from pathlib import Path

SESSION_GAP = datetime.timedelta(minutes=10)


def snapshot_time(path: str) -> datetime.datetime | None:
    m = re.search(r"vlcsnap-(\d{4})-(\d\d)-(\d\d)-(\d\d)h(\d\d)m(\d\d)s", path)
    return datetime.datetime(*map(int, m.groups())) if m else None


def main(film: Path, output: Path) -> None:
    original = {row["image"]: row["path"] for row in csv.DictReader(open(film / "sources.csv", encoding="utf-8"))}
    times = sorted((t, image) for image, path in original.items() if (t := snapshot_time(path)))
    group, session, previous = {}, 0, None
    for t, image in times:
        if previous is not None and t - previous > SESSION_GAP:
            session += 1
        group[image], previous = f"hoha-session-{session:03d}", t
    prefix = Path("../../..") / "shared" / "data" / "film"  # from models/data to ../shared/data/film
    with open(output, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["image", "category", "label", "group"])
        for row in csv.DictReader(open(film / "labels.csv", encoding="utf-8")):
            writer.writerow([(prefix / row["image"]).as_posix(), row["category"], row["label"],
                             group.get(row["image"], "")])
    print(f"{output}: {session + 1} HOHA sessions")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
