use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::Sink;
use crate::data::Batch;
use crate::format::json::JsonRow;

/// JSON lines written to a file, which each run starts afresh.
pub struct JsonFileSink {
    out: BufWriter<File>,
}

impl JsonFileSink {
    pub fn create(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = File::create(path)?;
        Ok(Self {
            out: BufWriter::with_capacity(1 << 16, file),
        })
    }
}

impl Sink for JsonFileSink {
    fn write(&mut self, batch: &Batch) -> io::Result<()> {
        for row in 0..batch.len() {
            serde_json::to_writer(&mut self.out, &JsonRow::new(batch.row(row)))?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }
}
