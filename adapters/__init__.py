"""OTIO adapter plugins of cinemanet-edit (installed as ``cinemanet_edit_adapters``).

Adapters import only opentimelineio and lxml: OTIO loads every plugin whenever it lists them.
"""
