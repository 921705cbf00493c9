//! `weir bench joins`: what a lookup join costs. Sensor readings from many
//! sensors, joined with a table holding a row per sensor, against the same
//! input with no operators and against the seed query, in the same run.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use super::{alternate, median, scratch_dir, write_workload};
use crate::data::{Field, FieldType};
use crate::generate::{write_sensors, SensorWorkload};
use crate::lookup::{load, TableFormat, TableOrigin, TableSpec};

#[derive(Debug, Clone, clap::Args)]
pub struct JoinBenchOptions {
    /// Readings to generate and process.
    #[arg(long, default_value_t = 5_000_000)]
    pub events: u64,
    /// Sensors, and so rows in the lookup table.
    #[arg(long, default_value_t = 100_000)]
    pub sensors: u32,
    /// Runs of each variant; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

pub struct JoinReport {
    pub events: u64,
    pub sensors: u32,
    /// Reading the table file into its index (median).
    pub table_load_ms: f64,
    /// (variant, events/s, results)
    pub variants: Vec<(&'static str, f64, u64)>,
}

impl fmt::Display for JoinReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lookup join: {} readings from {} sensors, a table of {} rows (read in {:.0} ms), NDJSON file → operators → null sink",
            self.events, self.sensors, self.sensors, self.table_load_ms
        )?;
        writeln!(
            f,
            "| pipeline | throughput | results | vs no operators | vs seed query |"
        )?;
        writeln!(f, "|---|---|---|---|---|")?;
        let (bare, seed) = (self.variants[0].1, self.variants[2].1);
        for (name, rate, results) in &self.variants {
            writeln!(
                f,
                "| {name} | {:.2} M events/s | {results} | {:.2} | {:.2} |",
                rate / 1e6,
                rate / bare,
                rate / seed
            )?;
        }
        Ok(())
    }
}

/// The seed query's operators: hot readings counted per sensor in 10 s
/// windows, more than five an alert.
const SEED: &str = r#"
[[operators]]
type = "filter"
where = "temperature > 100"

[[operators]]
type = "window"
size = "10s"
key_by = "sensor_id"
aggregates = { hot = "count" }
having = "hot > 5"
"#;

fn lookup(table: &Path) -> String {
    format!(
        r#"
[[operators]]
type = "lookup"
table = "{}"
key = "sensor_id"
fields = {{ building = "string", floor = "i64", city = "string" }}
unmatched = "dead-letter"
"#,
        table.display()
    )
}

/// A row per sensor, in the generator's id format.
fn write_table(path: &Path, sensors: u32) -> std::io::Result<()> {
    write_workload(path, |out| {
        writeln!(out, "sensor_id,building,floor,city")?;
        for sensor in 1..=sensors {
            writeln!(
                out,
                "sensor-{sensor:04},B-{},{},city-{}",
                sensor % 500,
                sensor % 13,
                sensor % 40
            )?;
        }
        Ok(())
    })
}

pub fn run_joins(options: &JoinBenchOptions) -> anyhow::Result<JoinReport> {
    anyhow::ensure!(options.runs > 0, "--runs must be at least 1");
    anyhow::ensure!(options.sensors > 0, "--sensors must be at least 1");
    let dir = scratch_dir("joins")?;
    let data = dir.join("readings.ndjson");
    let workload = SensorWorkload {
        events: options.events,
        sensors: options.sensors,
        ..Default::default()
    };
    write_workload(&data, |out| write_sensors(&workload, out))?;
    let table = dir.join("sensors.csv");
    write_table(&table, options.sensors)?;
    let table_load_ms = time_table_load(&table, options.runs)?;
    let join = lookup(&table);
    let variants: [(&'static str, String); 4] = [
        ("no operators (ingest)", String::new()),
        ("lookup join, every reading", join.clone()),
        ("seed query", SEED.to_string()),
        ("lookup join, then the seed query", format!("{join}{SEED}")),
    ];
    let measured = alternate(&variants, options.runs, &dir, options.events, |operators| {
        format!(
            r#"
name = "bench-joins"
source = {{ kind = "file", path = "{data}" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "console" }}
{operators}"#,
            data = data.display()
        )
    })?;
    anyhow::ensure!(
        measured[1].2 == options.events && measured[2].2 == measured[3].2,
        "the join lost rows or changed the seed query's results"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(JoinReport {
        events: options.events,
        sensors: options.sensors,
        table_load_ms,
        variants: measured,
    })
}
/// The median time to read the table into its index, milliseconds.
fn time_table_load(table: &Path, runs: usize) -> anyhow::Result<f64> {
    let spec = TableSpec {
        origin: TableOrigin::File {
            path: table.to_path_buf(),
            format: TableFormat::Csv,
        },
        key: "sensor_id".into(),
        key_type: FieldType::String,
        fields: vec![
            Field::new("building", FieldType::String),
            Field::new("floor", FieldType::I64),
            Field::new("city", FieldType::String),
        ],
        defaults: vec![None; 3],
    };
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        load(&spec).map_err(anyhow::Error::msg)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(times))
}
