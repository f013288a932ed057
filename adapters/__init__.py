"""OTIO adapter plugins of cinemanet-edit (installed as ``cinemanet_edit_adapters``).

One format per module. Adapters import opentimelineio, lxml and the light, pure-Python parts of
cinemanet_edit (timecode, annotate) only: OTIO loads every plugin whenever it lists them, so TensorFlow and
PyAV stay out.
"""
