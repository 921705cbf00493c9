"""The Python SDK in plain CPython: the row codec against bytes written by
hand from docs/abi.md, and the example plugins through the test harness."""

import os
import struct
import sys
import unittest
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..")
sys.path.insert(0, os.path.join(HERE, ".."))

from weir_plugin import Filter, Timestamp, codec, testing  # noqa: E402


@dataclass
class Row:
    name: str
    value: float
    count: int
    ok: bool
    at: Timestamp


def example(directory):
    """The `app` module of plugins/python/<directory>."""
    import importlib.util

    path = os.path.join(ROOT, "plugins", "python", directory, "app.py")
    spec = importlib.util.spec_from_file_location(f"{directory}_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Codec(unittest.TestCase):
    def test_a_row_is_its_fields_in_bincodes_fixed_width_form(self):
        out = bytearray()
        codec.encoder(Row)(Row("é", 1.5, -2, True, Timestamp(1_700_000_000_000)), out)
        expected = (
            struct.pack("<Q", 2) + "é".encode()
            + struct.pack("<d", 1.5)
            + struct.pack("<q", -2)
            + b"\x01"
            + struct.pack("<q", 1_700_000_000_000)
        )
        self.assertEqual(bytes(out), expected)
        (row,) = codec.decoder(Row)(bytes(out), 1)
        self.assertEqual(row, Row("é", 1.5, -2, True, 1_700_000_000_000))
        self.assertIsInstance(row.at, Timestamp)

    def test_bad_bytes_are_refused_with_the_reason(self):
        decode = codec.decoder(Row)
        good = bytearray()
        codec.encoder(Row)(Row("a", 1.0, 1, False, Timestamp(0)), good)
        with self.assertRaisesRegex(ValueError, "bytes follow"):
            decode(bytes(good) + b"\x00", 1)
        with self.assertRaisesRegex(ValueError, "runs past"):
            decode(struct.pack("<Q", 99) + b"ab", 1)
        bad_bool = bytes(good[:8 + 1 + 16]) + b"\x02" + bytes(good[8 + 1 + 17:])
        with self.assertRaisesRegex(ValueError, "not a bool"):
            decode(bad_bool, 1)

    def test_rows_of_fixed_width_fields_only_decode_as_one_layout(self):
        @dataclass
        class Fixed:
            value: float
            count: int
            ok: bool
            at: Timestamp

        rows = [Fixed(1.5, -2, True, Timestamp(7)), Fixed(-0.0, 2**62, False, Timestamp(-1))]
        data = bytearray()
        for row in rows:
            codec.encoder(Fixed)(row, data)
        decoded = codec.decoder(Fixed)(bytes(data), 2)
        self.assertEqual(decoded, rows)
        self.assertEqual([type(r.ok) for r in decoded], [bool, bool])
        self.assertIsInstance(decoded[1].at, Timestamp)
        with self.assertRaisesRegex(ValueError, "2 rows of 25 bytes are 50 bytes, not 51"):
            codec.decoder(Fixed)(bytes(data) + b"\x00", 2)
        data[16] = 2
        with self.assertRaisesRegex(ValueError, "row 0: 2 is not a bool"):
            codec.decoder(Fixed)(bytes(data), 2)

        @dataclass
        class Plain:
            value: float

        self.assertEqual(codec.decoder(Plain)(struct.pack("<dd", 1.0, 2.5), 2), [Plain(1.0), Plain(2.5)])
        self.assertEqual(codec.decoder(Plain)(b"", 0), [])

    def test_a_row_cut_short_is_refused(self):
        good = bytearray()
        codec.encoder(Row)(Row("a", 1.0, 1, False, Timestamp(0)), good)
        with self.assertRaisesRegex(ValueError, "row 0: its fields run past the rows"):
            codec.decoder(Row)(bytes(good[:12]), 1)

    def test_only_the_five_field_types_are_accepted(self):
        @dataclass
        class Bad:
            items: list

        with self.assertRaisesRegex(TypeError, "Bad.items"):
            codec.fields_of(Bad)


class Examples(unittest.TestCase):
    def test_over_threshold_keeps_readings_strictly_above(self):
        app = example("over_threshold")
        rows = [app.Reading(t) for t in (99.9, 100.0, 100.1, 120.0, -5.0)]
        self.assertEqual(testing.run(app.OverThreshold, {"threshold": 100.0}, rows), [2, 3])

    def test_over_threshold_refuses_a_bad_config(self):
        app = example("over_threshold")
        with self.assertRaisesRegex(ValueError, "finite"):
            testing.run(app.OverThreshold, {"threshold": "hot"}, [])
        with self.assertRaisesRegex(ValueError, "treshold"):
            testing.run(app.OverThreshold, {"threshold": 1, "treshold": 2}, [])

    def test_spike_alert_alerts_only_above_the_minimum(self):
        app = example("spike_alert")
        windows = [app.WindowCount("s1", Timestamp(10_000), n) for n in (5, 6, 9)]
        got = testing.run(app.SpikeAlert, {"min_count": 5}, windows)
        self.assertEqual(
            got,
            [
                (1, app.Alert("s1: 6 readings in one window, more than 5")),
                (2, app.Alert("s1: 9 readings in one window, more than 5")),
            ],
        )

    def test_fraud_detector_flags_a_small_then_a_large_purchase_from_a_new_address(self):
        app = example("fraud_detector")
        d = testing.keyed(app.FraudDetector, {"small_max": 5, "large_min": 500, "within_ms": 300000})
        buy = lambda amount, ip, at: app.Purchase(amount, ip, Timestamp(at))  # noqa: E731
        self.assertEqual(d.process("u1", buy(40.0, "10.0.0.1", 0)), [])
        self.assertEqual(d.process("u1", buy(1.0, "10.0.0.1", 1_000)), [])
        self.assertEqual(d.process("u2", buy(900.0, "10.9.9.9", 2_000)), [])
        self.assertEqual(
            d.process("u1", buy(950.0, "203.0.113.7", 61_000)),
            [app.FraudAlert(1.0, 1_000, 950.0, "203.0.113.7", 60_000)],
        )

    def test_fraud_detector_ignores_known_addresses_and_forgets_on_its_timer(self):
        app = example("fraud_detector")
        d = testing.keyed(app.FraudDetector, {"small_max": 5, "large_min": 500, "within_ms": 300000})
        buy = lambda amount, ip, at: app.Purchase(amount, ip, Timestamp(at))  # noqa: E731
        d.process("u1", buy(1.0, "10.0.0.1", 0))
        self.assertEqual(d.process("u1", buy(950.0, "10.0.0.1", 10_000)), [])
        d.process("u2", buy(1.0, "10.0.0.2", 0))
        self.assertEqual(d.state("u2")["small"], [1.0, 0])
        d.advance(300_000)
        self.assertIsNone(d.state("u2")["small"], "the timer forgot it")
        self.assertEqual(d.process("u2", buy(950.0, "203.0.113.9", 400_000)), [])

    def test_fraud_detector_remembers_eight_addresses(self):
        app = example("fraud_detector")
        d = testing.keyed(app.FraudDetector, {"small_max": 5, "large_min": 500, "within_ms": 300000})
        for i in range(12):
            d.process("u", app.Purchase(50.0, f"10.0.0.{i}", Timestamp(i)))
        self.assertEqual(d.state("u")["ips"], [f"10.0.0.{i}" for i in range(4, 12)])

    def test_sustained_heat_alerts_by_timer_and_by_the_reading_that_ends_a_streak(self):
        app = example("sustained_heat")
        heat = testing.keyed(app.SustainedHeat, {"threshold": 100.0, "duration_ms": 5000})
        at = lambda t, ms: app.Reading(t, Timestamp(ms))  # noqa: E731
        heat.process("a", at(101.0, 1_000))
        heat.process("a", at(105.0, 2_000))
        heat.process("b", at(101.0, 1_000))
        heat.process("b", at(99.0, 500))  # older than the streak: it goes on
        self.assertEqual(heat.process("b", at(102.0, 7_000)), [app.HeatAlert(1_000, 6_000, 102.0)])
        self.assertEqual(heat.advance(6_000), [app.HeatAlert(1_000, 5_000, 105.0)])
        self.assertEqual(heat.process("b", at(99.0, 8_000)), [], "one alert per streak")
        self.assertIsNone(heat.state("b"))

    def test_a_new_state_version_migrates_the_states_the_old_one_stored(self):
        app = example("sustained_heat")

        class CountingHeat(app.SustainedHeat):
            state_version = 2
            migrates_from = (1,)

            def process(self, row, ctx):
                super().process(row, ctx)
                if ctx.state is not None:
                    ctx.state["readings"] = ctx.state.get("readings", 0) + 1

            def migrate(self, from_version, state):
                return {**state, "readings": 0}

        config = {"threshold": 100.0, "duration_ms": 5000}
        v1 = testing.keyed(app.SustainedHeat, config)
        v1.process("a", app.Reading(101.0, Timestamp(1_000)))
        v2 = testing.keyed(CountingHeat, config)
        v2.adopt(v1)
        self.assertEqual(v2.state("a"), {"since": 1_000, "max": 101.0, "alerted": False, "readings": 0})
        v2.process("a", app.Reading(103.0, Timestamp(2_000)))
        self.assertEqual(v2.state("a")["readings"], 1)
        self.assertEqual(v2.advance(6_000), [app.HeatAlert(1_000, 5_000, 103.0)], "v1's timer fires in v2")

        back = testing.keyed(app.SustainedHeat, config)
        with self.assertRaisesRegex(ValueError, r"state version 2 is not one this plugin migrates from \(none\)"):
            back.adopt(v2)

        class Forgetful(CountingHeat):
            def migrate(self, from_version, state):
                return None

        with self.assertRaisesRegex(ValueError, "state 0 of 1: migrate returned None"):
            testing.keyed(Forgetful, config).adopt(v1)

        from weir_plugin.plugin import state_versions

        self.assertEqual(state_versions(CountingHeat), (2, [1]))

        class Unmigrating(app.SustainedHeat):
            state_version = 2
            migrates_from = (1,)

        with self.assertRaisesRegex(TypeError, "Unmigrating lists migrates_from but defines no migrate"):
            state_versions(Unmigrating)

        class Negative(CountingHeat):
            migrates_from = (-1,)

        with self.assertRaisesRegex(TypeError, r"Negative.migrates_from: -1 is not a version"):
            state_versions(Negative)

    def test_a_filter_without_keep_says_so(self):
        @dataclass
        class R:
            x: float

        class Lazy(Filter):
            row = R

        with self.assertRaisesRegex(NotImplementedError, "keep"):
            testing.run(Lazy, {}, [R(1.0)])

    def test_temperature_range_adds_merges_and_reports_the_spread(self):
        app = example("temperature_range")
        rows = [app.Value(v) for v in (20.5, 31.25, 18.0, 25.0, 40.5)]
        for split_at in range(len(rows) + 1):
            got = testing.aggregate(app.TemperatureRange, {}, rows, split_at)
            self.assertEqual(got, app.Spread(40.5 - 18.0), split_at)
        self.assertEqual(testing.aggregate(app.TemperatureRange, {}, [app.Value(7.0)]), app.Spread(0.0))
        with self.assertRaisesRegex(ValueError, "no config"):
            testing.aggregate(app.TemperatureRange, {"x": 1}, [])

    def test_a_keyed_plugin_sees_each_key_as_the_host_wrote_it(self):
        from weir_plugin import Keyed

        @dataclass
        class N:
            n: int

        @dataclass
        class Echo:
            key: str
            n: int

        class EchoKey(Keyed):
            row = N
            out = Echo

            def process(self, row, ctx):
                ctx.emit(Echo(ctx.key, row.n))

        plugin = testing.keyed(EchoKey, {})
        got = plugin._call([("東京", N(1)), ("zoë", N(2)), ("a", N(3))], [])
        self.assertEqual(got, [Echo("東京", 1), Echo("zoë", 2), Echo("a", 3)])


if __name__ == "__main__":
    unittest.main()
