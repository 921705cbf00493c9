"""The seed's fraud example in Python (plugins/fraud-detector in Rust): flags
a user whose small purchase is followed, within a few minutes, by a large
one from an address that user has never bought from. Keyed by user; a timer
forgets the small purchase once the window has passed.

    [[operators]]
    type = "plugin"
    path = "../plugins/dist/fraud_detector_py.wasm"
    key_by = "user_id"
    config = { small_max = 5.0, large_min = 500.0, within_ms = 300000 }
"""

from dataclasses import dataclass

from weir_plugin import Keyed, Timestamp, export

# Addresses remembered per user.
KNOWN_IPS = 8


@dataclass
class Purchase:
    amount: float
    ip: str
    event_time: Timestamp


@dataclass
class FraudAlert:
    small_amount: float
    small_at: Timestamp
    large_amount: float
    new_ip: str
    gap_ms: int


class FraudDetector(Keyed):
    row = Purchase
    out = FraudAlert

    def __init__(self, config):
        unknown = set(config) - {"small_max", "large_min", "within_ms"}
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        self.small_max = float(config["small_max"])
        self.large_min = float(config["large_min"])
        self.within = int(config["within_ms"])
        if self.within <= 0 or self.small_max >= self.large_min:
            raise ValueError("within_ms must be positive and small_max below large_min")

    def process(self, row, ctx):
        # State: {"ips": recent addresses, most recent last,
        #         "small": [amount, time] of the last small purchase or None}.
        history = ctx.state or {"ips": [], "small": None}
        t = row.event_time
        if row.amount >= self.large_min and row.ip not in history["ips"] and history["small"]:
            small_amount, small_at = history["small"]
            if 0 <= t - small_at <= self.within:
                ctx.emit(FraudAlert(small_amount, Timestamp(small_at), row.amount, row.ip, t - small_at))
                history["small"] = None
        if row.amount <= self.small_max:
            history["small"] = [row.amount, t]
            ctx.set_timer(t + self.within)
        history["ips"] = [ip for ip in history["ips"] if ip != row.ip][-(KNOWN_IPS - 1):] + [row.ip]
        ctx.state = history

    def on_timer(self, at, ctx):
        history = ctx.state
        if history and history["small"] and history["small"][1] + self.within <= at:
            history["small"] = None


WitWorld = export(FraudDetector, name="fraud-detector-py", version="0.1.0")
