"""The plugin's value classes: ``calico.common.record`` (kept as a name for the plugin's modules)."""

from calico.common.record import FrozenRecordError, field, record, replace

__all__ = ["FrozenRecordError", "field", "record", "replace"]
