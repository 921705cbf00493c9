"""The seed's "alert when a sensor stays above 100 °F for more than 5
seconds" in Python (plugins/sustained-heat in Rust, whose alerts it gives
byte for byte). Keyed by sensor: per sensor, since when it has been hot; an
event-time timer fires the alert even if the sensor then goes quiet.

    [[operators]]
    type = "plugin"
    path = "../plugins/dist/sustained_heat_py.wasm"
    key_by = "sensor_id"
    config = { threshold = 100.0, duration_ms = 5000 }

A streak is broken only by a reading at or below the threshold, one alert
per streak; a cold reading older than the streak's start does not break it.
"""

import math
from dataclasses import dataclass

from weir_plugin import Keyed, Timestamp, export


@dataclass
class Reading:
    temperature: float
    event_time: Timestamp


@dataclass
class HeatAlert:
    hot_since: Timestamp
    hot_for_ms: int
    max_temperature: float


class SustainedHeat(Keyed):
    row = Reading
    out = HeatAlert
    # The state: {"since": millis, "max": hottest reading, "alerted": bool}.
    state_version = 1

    def __init__(self, config):
        unknown = set(config) - {"threshold", "duration_ms"}
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        self.threshold = float(config["threshold"])
        self.duration = int(config["duration_ms"])
        if self.duration <= 0:
            raise ValueError("duration_ms must be positive")
        if not math.isfinite(self.threshold):
            raise ValueError("threshold must be a number")

    def process(self, row, ctx):
        t = int(row.event_time)
        streak = ctx.state
        if row.temperature > self.threshold:
            if streak is None:
                ctx.state = {"since": t, "max": row.temperature, "alerted": False}
                ctx.set_timer(t + self.duration)
            else:
                streak["max"] = max(streak["max"], row.temperature)
                if t < streak["since"] and not streak["alerted"]:
                    # An earlier hot reading arrived late: the streak began then.
                    streak["since"] = t
                    ctx.set_timer(t + self.duration)
            self.alert_if_long_enough(t, ctx)
        elif streak is not None and t >= streak["since"]:
            # The streak lasted at least until this reading, which ends it.
            self.alert_if_long_enough(t, ctx)
            ctx.state = None

    def on_timer(self, at, ctx):
        self.alert_if_long_enough(int(at), ctx)

    def alert_if_long_enough(self, now, ctx):
        streak = ctx.state
        if streak is None or streak["alerted"] or now - streak["since"] < self.duration:
            return
        streak["alerted"] = True
        ctx.emit(HeatAlert(Timestamp(streak["since"]), now - streak["since"], streak["max"]))


WitWorld = export(SustainedHeat, name="sustained-heat-py", version="0.1.0")
