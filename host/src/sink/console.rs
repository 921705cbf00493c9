use std::io::{self, BufWriter, Stdout, Write};

use super::Sink;
use crate::data::{Batch, Value};
use crate::format::timestamp;

/// One line per result: `field=value` pairs, timestamps in RFC 3339.
pub struct ConsoleSink {
    out: BufWriter<Stdout>,
}

impl ConsoleSink {
    pub fn new() -> Self {
        Self {
            out: BufWriter::new(io::stdout()),
        }
    }
}

impl Default for ConsoleSink {
    fn default() -> Self {
        Self::new()
    }
}

impl Sink for ConsoleSink {
    fn write(&mut self, batch: &Batch, _: &mut super::SinkContext<'_>) -> io::Result<()> {
        for row in 0..batch.len() {
            for (i, (name, value)) in batch.row(row).enumerate() {
                let separator = if i == 0 { "" } else { "  " };
                match value {
                    Value::String(v) if v.contains(char::is_whitespace) => {
                        write!(self.out, "{separator}{name}={v:?}")?
                    }
                    Value::String(v) => write!(self.out, "{separator}{name}={v}")?,
                    Value::F64(v) => write!(self.out, "{separator}{name}={v}")?,
                    Value::I64(v) => write!(self.out, "{separator}{name}={v}")?,
                    Value::Bool(v) => write!(self.out, "{separator}{name}={v}")?,
                    Value::Timestamp(v) => {
                        write!(self.out, "{separator}{name}={}", timestamp::format(v))?
                    }
                }
            }
            writeln!(self.out)?;
        }
        // Results are rare and a person is watching: show them as they come.
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
