"""CinemaNet: tag the current timeline (a DaVinci Resolve script, Workspace > Scripts > Utility).

Labels every video item of the open timeline with cinemanet-edit: one marker per item (name = labels,
note = confidences, customData marks it as ours and keeps what it wrote), the labels added to the media's
Keywords, and its Description (the labels) and Comments (confidences, what was left out) where those are empty
or ours: the Metadata Editor's fields that Smart Bins filter on. Running it again replaces only what it wrote
before. "CinemaNet Learn Corrections" reads back the marker names and keywords an editor changed and keeps
them: the next tag gives the editor's label there. It runs the engine in the Python environment where
cinemanet-edit is installed (Resolve's own Python has no TensorFlow), recorded by
``cinemanet-edit resolve install``.

Standard library only, Python 3.6+. Also runs outside Resolve (Resolve Studio's external scripting):
    python "CinemaNet Tag Timeline.py" [--dry-run | --learn]
Inside Resolve, "CinemaNet Tag Timeline (dry run)" reports what it would change and changes nothing.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

# Filled in by `cinemanet-edit resolve install`:
CONFIG = {"python": None, "version": None, "dry_run": False, "action": "tag"}
# The engine starts in isolated mode (-I: no current folder, no PYTHON* variables, no user site) and imports
# cinemanet_edit from the folder recorded at install, so a "cinemanet_edit" folder wherever Resolve runs
# cannot take its place.
BOOT = ("import runpy, sys; site = sys.argv.pop(1); site and sys.path.insert(0, site); "
        "sys.argv[0] = 'cinemanet-edit'; runpy.run_module('cinemanet_edit', run_name='__main__', alter_sys=True)")

TOOL = "cinemanet-edit"
JOB_VERSION = 1


class ScriptError(Exception):
    pass


def log_path():
    folder = os.path.join(os.path.expanduser("~"), ".cinemanet-edit", "logs")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, "resolve-%s.log" % time.strftime("%Y%m%d-%H%M%S"))


class Log:
    """Prints to Resolve's console and keeps a log file."""

    def __init__(self, path=None):
        self.path = path
        self.file = open(path, "a", encoding="utf-8") if path else None

    def __call__(self, message):
        line = "[CinemaNet] %s" % message
        print(line)
        sys.stdout.flush()
        if self.file:
            self.file.write(time.strftime("%H:%M:%S ") + line + "\n")
            self.file.flush()

    def close(self):
        if self.file:
            self.file.close()


def _module_dirs():
    """Where Resolve keeps DaVinciResolveScript, per the Resolve scripting README."""
    dirs = []
    api = os.environ.get("RESOLVE_SCRIPT_API")
    if api:
        dirs.append(os.path.join(api, "Modules"))
    if sys.platform == "darwin":
        dirs.append("/Library/Application Support/Blackmagic Design/DaVinci Resolve/Developer/Scripting/Modules")
    elif sys.platform.startswith("win"):
        dirs.append(os.path.join(os.environ.get("PROGRAMDATA", r"C:\ProgramData"), "Blackmagic Design",
                                 "DaVinci Resolve", "Support", "Developer", "Scripting", "Modules"))
    else:
        dirs.extend(["/opt/resolve/Developer/Scripting/Modules", "/home/resolve/Developer/Scripting/Modules"])
    return dirs


def get_resolve(namespace=None):
    """The Resolve object: the one Resolve gives its scripts, or through external scripting."""
    namespace = namespace if namespace is not None else globals()
    if namespace.get("resolve") is not None:
        return namespace["resolve"]
    app = namespace.get("app") or namespace.get("fusion")
    if app is not None and hasattr(app, "GetResolve"):
        return app.GetResolve()
    bmd = namespace.get("bmd")
    if bmd is None:
        for folder in _module_dirs():
            if os.path.isdir(folder) and folder not in sys.path:
                sys.path.append(folder)
        try:
            import DaVinciResolveScript as bmd  # noqa: N813
        except ImportError:
            raise ScriptError("cannot find Resolve's scripting module DaVinciResolveScript: set RESOLVE_SCRIPT_API, "
                              "RESOLVE_SCRIPT_LIB and PYTHONPATH as Resolve's scripting README says") from None
    resolve = bmd.scriptapp("Resolve")
    if resolve is None:
        raise ScriptError("DaVinci Resolve is not running, or external scripting is off "
                          "(Preferences > System > General > External scripting using: Local)")
    return resolve


def _fps(value, fallback):
    try:
        return float(str(value).split()[0])
    except (TypeError, ValueError, IndexError):
        return fallback


def collect(timeline):
    """The timeline's video items: what the engine needs (job items) and the objects to write to."""
    timeline_fps = _fps(timeline.GetSetting("timelineFrameRate"), 24.0)
    job_items, handles, skipped = [], {}, []
    for track in range(1, int(timeline.GetTrackCount("video")) + 1):
        for n, item in enumerate(timeline.GetItemListInTrack("video", track) or [], start=1):
            item_id = "V%d.%d" % (track, n)
            name = item.GetName()
            mpi = item.GetMediaPoolItem()
            if mpi is None:
                skipped.append((item_id, name, "no media (title, generator or Fusion clip)"))
                continue
            path = mpi.GetClipProperty("File Path")
            if not path:
                skipped.append((item_id, name, "no media file (compound or generated clip)"))
                continue
            try:
                start, end = item.GetSourceStartFrame(), item.GetSourceEndFrame()
            except AttributeError:  # Resolve before 19.0.2
                start, end = item.GetLeftOffset(), 0
            job_items.append({
                "id": item_id, "name": name, "path": path, "source_start": int(start),
                "source_end": int(end or 0), "duration": int(item.GetDuration()),
                "media_fps": _fps(mpi.GetClipProperty("FPS"), timeline_fps),
            })
            handles[item_id] = (item, mpi)
    job = {"version": JOB_VERSION, "timeline_fps": timeline_fps, "items": job_items}
    return job, handles, skipped


def run_engine(job, log, python=None, extra_args=()):
    """Run `cinemanet-edit resolve run-job` in the recorded Python; relay its progress lines."""
    python = python or CONFIG.get("python") or os.environ.get("CINEMANET_PYTHON")
    if not python:
        raise ScriptError("no Python recorded: run `cinemanet-edit resolve install` again")
    folder = tempfile.mkdtemp(prefix="cinemanet-resolve-")
    job_file, answer_file = os.path.join(folder, "job.json"), os.path.join(folder, "answer.json")
    with open(job_file, "w", encoding="utf-8") as f:
        json.dump(job, f)
    command = [python, "-I", "-c", BOOT, CONFIG.get("site") or "", "resolve", "run-job", job_file, "-o",
               answer_file]
    command.extend(extra_args)
    log("running the engine: %s -I (cinemanet_edit from %s)" % (python, CONFIG.get("site") or "its site-packages"))
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   universal_newlines=True, cwd=folder)
    except OSError as exc:
        raise ScriptError("cannot start %s: %s" % (python, exc)) from None
    last = 0.0
    for line in process.stdout:
        line = line.rstrip()
        if line.startswith("PROGRESS "):
            done, total = (int(x) for x in line.split()[1:3])
            if time.time() - last > 2 or done == total:
                log("analysed %d of %d frames" % (done, total))
                last = time.time()
        elif line:
            log(line)
    if process.wait() != 0 or not os.path.exists(answer_file):
        raise ScriptError("the engine failed (exit %s); see the log above" % process.returncode)
    with open(answer_file, encoding="utf-8") as f:
        return json.load(f)


def parse_custom_data(text):
    try:
        data = json.loads(text or "")
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("tool") == TOOL else None


def _our_markers(item):
    """{frame: (raw customData, parsed customData, the marker)} of the markers we wrote on a timeline item."""
    ours = {}
    for frame, marker in (item.GetMarkers() or {}).items():
        data = parse_custom_data(marker.get("customData"))
        if data is not None:
            ours[frame] = (marker.get("customData"), data, marker)
    return ours


def split_keywords(text):
    return [k.strip() for k in (text or "").split(",") if k.strip()]


def apply(answer, handles, log, dry_run=False):
    """Write the answer: replace our markers on each item and our keywords on each media pool item."""
    changes = []
    by_mpi = {}
    for entry in answer["items"]:
        if entry["id"] in handles:
            by_mpi.setdefault(id(handles[entry["id"]][1]), []).append(entry)
    for entries in by_mpi.values():
        mpi = handles[entries[0]["id"]][1]
        previous_ours, previous_fields = set(), {}
        for entry in entries:
            for _, data, _ in _our_markers(handles[entry["id"]][0]).values():
                previous_ours.update(data.get("keywords", []))
                previous_fields.update(data.get("fields") or {})
        current = split_keywords(mpi.GetMetadata("Keywords"))
        users = [k for k in current if k not in previous_ours]
        new = []
        for entry in entries:
            for keyword in entry.get("keywords", []) if entry["status"] == "ok" else []:
                if keyword not in users and keyword not in new:
                    new.append(keyword)
        merged = users + new
        if merged != current:
            changes.append(("keywords", mpi.GetName() if hasattr(mpi, "GetName") else "", ", ".join(merged)))
            if not dry_run:
                mpi.SetMetadata("Keywords", ", ".join(merged))
        fields = apply_fields(mpi, entries, previous_fields, changes, log, dry_run)
        for entry in entries:
            item = handles[entry["id"]][0]
            for frame, (raw, _, _) in _our_markers(item).items():
                changes.append(("delete marker", entry["id"], frame))
                if not dry_run:
                    item.DeleteMarkerByCustomData(raw)
            if entry["status"] != "ok":
                log("skipped %s: %s" % (entry["id"], entry.get("reason")))
                continue
            m = entry["marker"]
            changes.append(("add marker", entry["id"], m["offset"], m["name"]))
            if not dry_run and not item.AddMarker(m["offset"], m["color"], m["name"], m["note"], m["duration"],
                                                  json.dumps({"tool": TOOL, "v": 2, "keywords": new, "fields": fields,
                                                              "written": entry.get("written", {})},
                                                             sort_keys=True)):
                log("could not add a marker to %s at frame %d" % (entry["id"], m["offset"]))
    return changes


def merged_fields(entries):
    """The Metadata Editor fields for one media pool item: each analysed item's value, in timeline order,
    once each (a file used twice gets both shots' labels)."""
    fields = {}
    for entry in entries:
        for key, value in (entry.get("fields") or {}).items() if entry["status"] == "ok" else ():
            if value and value not in fields.setdefault(key, []):
                fields[key].append(value)
    return {key: " | ".join(values) for key, values in fields.items()}


def apply_fields(mpi, entries, previous, changes, log, dry_run):
    """Set Description and Comments where they are empty or hold what we wrote before; an editor's own text
    is left alone. Returns the fields written (kept in our markers, so that the next run may replace them)."""
    written = {}
    for key, value in merged_fields(entries).items():
        current = mpi.GetMetadata(key) or ""
        if current and current != previous.get(key):
            log("left the %s of %s alone: not written by %s" % (key, mpi.GetName(), TOOL))
            continue
        written[key] = value
        if current != value:
            changes.append(("set " + key, mpi.GetName(), value))
            if not dry_run:
                mpi.SetMetadata(key, value)
    return written


def collect_edits(timeline):
    """A learn job: the open timeline's items that carry one of our markers, each with what we wrote (kept in
    the marker), the marker's name and its media's keywords as the editor left them."""
    job, handles, skipped = collect(timeline)
    items = []
    for job_item in job["items"]:
        item, mpi = handles[job_item["id"]]
        for _, data, marker in _our_markers(item).values():
            if "written" in data:  # markers of scripts before 0.x carry no record of what they wrote
                items.append(dict(job_item, written=data["written"], marker_name=marker.get("name") or "",
                                  keywords=split_keywords(mpi.GetMetadata("Keywords"))))
                break
    return dict(job, action="learn", timeline=timeline.GetName(), items=items), skipped


def learn(resolve, log, engine=None):
    """Keep the editor's corrections of our labels on the open timeline (renamed markers, changed keywords)."""
    timeline = _current_timeline(resolve)
    job, _skipped = collect_edits(timeline)
    log("timeline '%s': %d items carry our labels" % (timeline.GetName(), len(job["items"])))
    if not job["items"]:
        return None
    answer = (engine or run_engine)(job, log)
    log(answer.get("summary") or "done")
    return answer


def _current_timeline(resolve):
    project = resolve.GetProjectManager().GetCurrentProject()
    if project is None:
        raise ScriptError("no project is open")
    timeline = project.GetCurrentTimeline()
    if timeline is None:
        raise ScriptError("the project has no current timeline")
    return timeline


def run(resolve, log, dry_run=False, engine=None):
    timeline = _current_timeline(resolve)
    job, handles, skipped = collect(timeline)
    for item_id, name, reason in skipped:
        log("skipping %s '%s': %s" % (item_id, name, reason))
    log("timeline '%s': %d items to analyse" % (timeline.GetName(), len(job["items"])))
    if not job["items"]:
        return []
    answer = (engine or run_engine)(job, log)
    for warning in answer.get("warnings", []):
        log("warning: %s" % warning)
    changes = apply(answer, handles, log, dry_run)
    verb = "would make" if dry_run else "made"
    for change in changes:
        log("%s: %s" % ("would " + change[0] if dry_run else change[0], " ".join(str(c) for c in change[1:])))
    tagged = sum(1 for e in answer["items"] if e["status"] == "ok")
    log("%s %d changes; %d of %d items labelled" % (verb, len(changes), tagged, len(job["items"]) + len(skipped)))
    return changes


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    dry_run = CONFIG.get("dry_run") or "--dry-run" in argv or os.environ.get("CINEMANET_DRY_RUN") == "1"
    log = Log(log_path())
    try:
        if CONFIG.get("action") == "learn" or "--learn" in argv:
            learn(get_resolve(), log)
        else:
            run(get_resolve(), log, dry_run=dry_run)
    except ScriptError as exc:
        log("error: %s" % exc)
        return 1
    finally:
        log("log: %s" % log.path)
        log.close()
    return 0


if __name__ == "__main__":
    inside_resolve = any(globals().get(name) is not None for name in ("resolve", "app", "fusion", "bmd"))
    sys.exit(main([] if inside_resolve else None))  # inside Resolve, sys.argv is Resolve's own
