"""A stand-in for DaVinci Resolve's scripting objects, with the documented behaviour the script relies on.

Timeline frames are absolute (a timeline starting at 01:00:00:00 at 24 fps starts at frame 86400); a
timeline item's markers are keyed by their frame offset from the item's first frame; AddMarker refuses a
second marker on the same frame, frames outside the item and unknown colours (returns False, as Resolve
does); DeleteMarkerByCustomData removes every marker carrying that customData.
"""

from __future__ import annotations

COLORS = {"Blue", "Cyan", "Green", "Yellow", "Red", "Pink", "Purple", "Fuchsia", "Rose", "Lavender", "Sky",
          "Mint", "Lemon", "Sand", "Cocoa", "Cream"}


class MediaPoolItem:
    def __init__(self, name, path, fps, keywords=""):
        self.name = name
        self.props = {"File Path": path, "FPS": fps, "Clip Name": name}
        self.meta = {"Keywords": keywords} if keywords else {}
        self.calls = []

    def GetName(self):
        return self.name

    def GetClipProperty(self, key=None):
        return self.props if key is None else self.props.get(key, "")

    def GetMetadata(self, key=None):
        return dict(self.meta) if key is None else self.meta.get(key, "")

    def SetMetadata(self, key, value=None):
        self.calls.append(("SetMetadata", key, value))
        if isinstance(key, dict):
            self.meta.update(key)
        else:
            self.meta[key] = value
        return True


class TimelineItem:
    def __init__(self, name, start, duration, source_start, media=None, has_source_frames=True):
        self.name, self.start, self.duration, self.source_start = name, start, duration, source_start
        self.media = media
        self.markers = {}
        self.has_source_frames = has_source_frames

    def GetName(self):
        return self.name

    def GetStart(self):
        return self.start

    def GetEnd(self):
        return self.start + self.duration

    def GetDuration(self):
        return self.duration

    def GetLeftOffset(self):
        return self.source_start

    def __getattr__(self, name):
        if name in ("GetSourceStartFrame", "GetSourceEndFrame") and self.has_source_frames:
            value = self.source_start if name == "GetSourceStartFrame" else self.source_start + self.duration
            return lambda: value
        raise AttributeError(name)

    def GetMediaPoolItem(self):
        return self.media

    def AddMarker(self, frame_id, color, name, note, duration, custom_data=""):
        if frame_id in self.markers or not 0 <= frame_id < self.duration or color not in COLORS or duration < 1:
            return False
        self.markers[frame_id] = {"color": color, "duration": duration, "note": note, "name": name,
                                  "customData": custom_data}
        return True

    def GetMarkers(self):
        return {frame: dict(marker) for frame, marker in self.markers.items()}

    def DeleteMarkerByCustomData(self, custom_data):
        frames = [f for f, m in self.markers.items() if m["customData"] == custom_data]
        for frame in frames:
            del self.markers[frame]
        return bool(frames)


class Timeline:
    def __init__(self, name, fps, start_frame, tracks):
        self.name, self.fps, self.start_frame, self.tracks = name, fps, start_frame, tracks

    def GetName(self):
        return self.name

    def GetSetting(self, key):
        return {"timelineFrameRate": self.fps}.get(key, "")

    def GetStartFrame(self):
        return self.start_frame

    def GetTrackCount(self, kind):
        return len(self.tracks) if kind == "video" else 0

    def GetItemListInTrack(self, kind, index):
        return list(self.tracks[index - 1]) if kind == "video" else []


class Project:
    def __init__(self, timeline):
        self.timeline = timeline

    def GetCurrentTimeline(self):
        return self.timeline


class ProjectManager:
    def __init__(self, project):
        self.project = project

    def GetCurrentProject(self):
        return self.project


class Resolve:
    def __init__(self, timeline):
        self.manager = ProjectManager(Project(timeline) if timeline is not None else None)

    def GetProjectManager(self):
        return self.manager


def place(items, timeline_start):
    """Lay items end to end from the timeline's start frame (absolute frames, as Resolve reports them)."""
    position = timeline_start
    for item in items:
        item.start = position
        position += item.duration
    return items
