//! The bench plugins' logic compiled into the host: the baseline Wasm is
//! compared against. Kept line for line with `plugins/over-threshold` and
//! `plugins/spike-alert`.

use std::sync::Arc;

use crate::data::{Batch, Column, Field, FieldType, Schema, StrColumn, Value};
use crate::pipeline::NativeOperator;

pub struct OverThreshold {
    schema: Arc<Schema>,
    temperature: usize,
    threshold: f64,
}

impl OverThreshold {
    pub fn new(schema: &Arc<Schema>, threshold: f64) -> Self {
        let temperature = schema
            .index_of("temperature")
            .expect("the bench schema has temperature");
        Self {
            schema: schema.clone(),
            temperature,
            threshold,
        }
    }
}

impl NativeOperator for OverThreshold {
    fn output_schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    fn process(&mut self, batch: &Batch) -> Batch {
        let Column::F64(temperature) = &batch.columns[self.temperature] else {
            unreachable!("temperature is an f64 column")
        };
        let kept: Vec<u32> = (0..batch.len() as u32)
            .filter(|&i| temperature[i as usize] > self.threshold)
            .collect();
        batch.gather(&kept)
    }
}

pub struct SpikeAlert {
    output: Arc<Schema>,
    sensor: usize,
    count: usize,
    window_end: usize,
    min_count: i64,
}

impl SpikeAlert {
    pub fn new(input: &Arc<Schema>, min_count: i64) -> Self {
        let index = |name: &str| {
            input
                .index_of(name)
                .expect("the bench window emits this field")
        };
        Self {
            output: input.merged_with(&[Field::new("alert", FieldType::String)]),
            sensor: index("sensor_id"),
            count: index("count"),
            window_end: index("window_end"),
            min_count,
        }
    }
}

impl NativeOperator for SpikeAlert {
    fn output_schema(&self) -> &Arc<Schema> {
        &self.output
    }

    fn process(&mut self, batch: &Batch) -> Batch {
        let mut parents = Vec::new();
        let mut alerts = StrColumn::with_capacity(batch.len());
        for row in 0..batch.len() {
            let (Value::String(sensor), Value::I64(count), Value::Timestamp(_)) = (
                batch.columns[self.sensor].get(row),
                batch.columns[self.count].get(row),
                batch.columns[self.window_end].get(row),
            ) else {
                unreachable!("window output types are fixed")
            };
            if count > self.min_count {
                parents.push(row as u32);
                alerts.push(&format!(
                    "{sensor}: {count} readings in one window, more than {}",
                    self.min_count
                ));
            }
        }
        let mut out = batch.gather(&parents);
        out.schema = self.output.clone();
        out.columns.push(Column::String(alerts));
        out
    }
}
