"""DaVinci Resolve integration.

``script.py`` is the file Resolve runs (Workspace > Scripts): standard library only, because Resolve's
embedded Python has no TensorFlow. It collects the timeline's items, runs ``bridge.py`` in the user's own
Python (``cinemanet-edit resolve run-job``) and applies the answer as markers and keywords. ``install.py``
puts the script where Resolve looks for it.
"""
