"""Raises an alert for each window whose count exceeds a minimum (the seed's
`HAVING COUNT(*) > 5` after a window): plugins/spike-alert in Python.

    [[operators]]
    type = "plugin"
    path = "../plugins/dist/spike_alert_py.wasm"
    config = { min_count = 5 }
"""

from dataclasses import dataclass

from weir_plugin import FlatMap, Timestamp, export


@dataclass
class WindowCount:
    sensor_id: str
    # Read so that the plugin loads only after a window.
    window_end: Timestamp
    count: int


@dataclass
class Alert:
    alert: str


class SpikeAlert(FlatMap):
    row = WindowCount
    out = Alert

    def __init__(self, config):
        min_count = config["min_count"]
        if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 0:
            raise ValueError(f"min_count must be a whole number, zero or more, got {min_count!r}")
        self.min_count = min_count

    def flat_map(self, window):
        if window.count > self.min_count:
            yield Alert(f"{window.sensor_id}: {window.count} readings in one window, more than {self.min_count}")


WitWorld = export(SpikeAlert, name="spike-alert-py", version="0.1.0")
