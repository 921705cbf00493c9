//! JSON lines (or an Avro container file, see [`crate::format::avro`]) in a
//! file. Without checkpoints each run starts the file afresh.
//! With checkpoints, results are staged in `<file>.pending` and appended to
//! the file only once the checkpoint that covers them is durable, so the file
//! only ever holds results of completed checkpoints; a restart finishes or
//! discards what a crash interrupted and continues from there.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::Sink;
use crate::data::Batch;
use crate::format::avro::AvroSchema;
use crate::format::json::JsonRow;
use crate::state::SinkPosition;

pub struct JsonFileSink {
    path: PathBuf,
    /// The results file itself, or its staging file.
    out: BufWriter<File>,
    staged: Option<Staging>,
    /// Avro blocks instead of JSON lines.
    avro: Option<(AvroSchema, Vec<u8>)>,
}

struct Staging {
    results: File,
    /// Bytes in the results file: committed results.
    committed_len: u64,
    pending_path: PathBuf,
    /// Bytes of `out` (the staging file) a checkpoint has covered and that
    /// [`Sink::commit`] is to publish.
    prepared_len: u64,
}

fn create_parent(path: &Path) -> io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => fs::create_dir_all(dir),
        None => Ok(()),
    }
}

fn pending_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pending");
    PathBuf::from(name)
}

impl JsonFileSink {
    /// Writes straight to `path`, replacing what it held.
    pub fn create(path: &Path) -> io::Result<Self> {
        create_parent(path)?;
        let file = File::create(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 16, file),
            staged: None,
            avro: None,
        })
    }

    /// Writes an Avro container file of `schema` instead of JSON lines. A
    /// file that starts here gets the header first (with checkpoints, it is
    /// published with the first checkpoint's results).
    pub fn writing_avro(mut self, schema: AvroSchema) -> io::Result<Self> {
        let fresh = self.staged.as_ref().is_none_or(|s| s.committed_len == 0);
        if fresh {
            self.out.write_all(&schema.file_header())?;
        }
        self.avro = Some((schema, Vec::new()));
        Ok(self)
    }

    /// Stages results for checkpoints. `resume` is what the checkpoint being
    /// resumed recorded; `None` starts the file afresh.
    pub fn staged(path: &Path, resume: Option<SinkPosition>) -> io::Result<Self> {
        create_parent(path)?;
        let pending_path = pending_path(path);
        let mut results = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut pending = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&pending_path)?;
        let committed_len = match resume {
            None | Some(SinkPosition::None) => 0,
            Some(SinkPosition::File {
                committed_len,
                pending_len,
            }) => {
                reconcile(&mut results, &mut pending, committed_len, pending_len, path)?;
                committed_len
            }
            Some(SinkPosition::Many(_)) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the checkpoint holds the positions of several sinks, not this file's",
                ))
            }
        };
        results.set_len(committed_len)?;
        results.sync_all()?;
        pending.set_len(0)?;
        pending.seek(SeekFrom::Start(0))?;
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 16, pending),
            staged: Some(Staging {
                results,
                committed_len,
                pending_path,
                prepared_len: 0,
            }),
            avro: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Brings the results file to what the checkpoint committed: a crash between
/// writing the checkpoint and publishing its staged results left them in the
/// staging file; results past the checkpoint (from a later checkpoint that
/// was lost) are dropped, as they will be produced again.
fn reconcile(
    results: &mut File,
    pending: &mut File,
    committed_len: u64,
    pending_len: u64,
    path: &Path,
) -> io::Result<()> {
    let have = results.metadata()?.len();
    if have >= committed_len {
        return Ok(());
    }
    let published_before = committed_len - pending_len;
    let staged = pending.metadata()?.len();
    if have < published_before || staged < pending_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} has {have} bytes but the checkpoint committed {committed_len}, and the staged results to finish it are missing; the file was changed outside weir (start with --fresh)",
                path.display()
            ),
        ));
    }
    pending.seek(SeekFrom::Start(have - published_before))?;
    results.seek(SeekFrom::Start(have))?;
    io::copy(&mut (&*pending).take(committed_len - have), results)?;
    results.sync_all()
}

impl Sink for JsonFileSink {
    fn write(&mut self, batch: &Batch, _: &mut super::SinkContext<'_>) -> io::Result<()> {
        if let Some((schema, block)) = &mut self.avro {
            if !batch.is_empty() {
                block.clear();
                schema.block(batch, block);
                self.out.write_all(block)?;
            }
            return Ok(());
        }
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

    fn pre_commit(&mut self) -> io::Result<SinkPosition> {
        self.flush()?;
        let Some(staging) = &mut self.staged else {
            return Ok(SinkPosition::None);
        };
        staging.prepared_len = self.out.get_ref().metadata()?.len();
        Ok(SinkPosition::File {
            committed_len: staging.committed_len + staging.prepared_len,
            pending_len: staging.prepared_len,
        })
    }

    fn commit(&mut self) -> io::Result<()> {
        let Some(staging) = &mut self.staged else {
            return Ok(());
        };
        if staging.prepared_len == 0 {
            return Ok(());
        }
        let pending = self.out.get_mut();
        pending.seek(SeekFrom::Start(0))?;
        staging
            .results
            .seek(SeekFrom::Start(staging.committed_len))?;
        io::copy(
            &mut (&*pending).take(staging.prepared_len),
            &mut staging.results,
        )?;
        staging.results.sync_data()?;
        staging.committed_len += staging.prepared_len;
        staging.prepared_len = 0;
        // Results are written between a checkpoint and its commit only by this
        // thread, so the staging file holds nothing newer: start it over.
        pending.set_len(0)?;
        pending.seek(SeekFrom::Start(0))?;
        Ok(())
    }
}

impl Drop for JsonFileSink {
    fn drop(&mut self) {
        if let Some(staging) = &self.staged {
            // Empty once the last checkpoint is committed; otherwise a resume needs it.
            if staging.prepared_len == 0
                && self.out.get_ref().metadata().is_ok_and(|m| m.len() == 0)
            {
                let _ = fs::remove_file(&staging.pending_path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{BatchBuilder, Field, FieldType, Schema, Value};

    /// Writes a batch of `values` as a run not stopping would.
    fn write(sink: &mut JsonFileSink, values: &[i64]) {
        crate::sink::context::with_test_context(|cx| sink.write(&batch(values), cx)).unwrap();
    }

    fn batch(values: &[i64]) -> Batch {
        let schema = Schema::new(vec![Field::new("n", FieldType::I64)]).unwrap();
        let mut b = BatchBuilder::new(schema, values.len());
        for &v in values {
            b.push([Value::I64(v)], 0, 0, 0);
        }
        b.take(0)
    }

    #[test]
    fn only_checkpointed_results_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut sink = JsonFileSink::staged(&path, None).unwrap();
        write(&mut sink, &[1, 2]);
        let position = sink.pre_commit().unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "",
            "not before the commit"
        );
        sink.commit().unwrap();
        write(&mut sink, &[3]);
        sink.flush().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"n\":1}\n{\"n\":2}\n");
        drop(sink);
        // A crash after the first checkpoint: row 3 is staged, not committed.
        let sink = JsonFileSink::staged(&path, Some(position)).unwrap();
        drop(sink);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"n\":1}\n{\"n\":2}\n");
    }

    #[test]
    fn a_crash_between_checkpoint_and_publish_is_finished_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut sink = JsonFileSink::staged(&path, None).unwrap();
        write(&mut sink, &[1]);
        sink.pre_commit().unwrap();
        sink.commit().unwrap();
        write(&mut sink, &[2, 3]);
        let position = sink.pre_commit().unwrap();
        // The checkpoint is written; the process dies before `commit`, and
        // even tore the results file.
        std::mem::forget(sink);
        fs::write(&path, "{\"n\":1}\n{\"n").unwrap();
        JsonFileSink::staged(&path, Some(position)).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n"
        );
    }

    #[test]
    fn results_past_the_checkpoint_are_dropped_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        fs::write(&path, "{\"n\":1}\n{\"n\":2}\n").unwrap();
        let position = SinkPosition::File {
            committed_len: 8,
            pending_len: 0,
        };
        JsonFileSink::staged(&path, Some(position)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"n\":1}\n");
    }
}
