"""OTIO adapter plugins of cinemanet-edit (installed as ``cinemanet_edit_adapters``).

One format per module. Adapters import opentimelineio, lxml and the light, pure-Python parts of
cinemanet_edit (timecode, annotate) only: OTIO loads every plugin whenever it lists them, so TensorFlow and
PyAV stay out.
"""

import opentimelineio as otio


class AdapterError(otio.exceptions.OTIOError, ValueError):
    """A file one of our adapters cannot read or write (OTIO's error type, and a ValueError for older callers)."""


class EDLError(AdapterError):
    pass


class FCPXMLError(AdapterError):
    pass
