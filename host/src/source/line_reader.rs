//! Files, followed files and standard input as a [`Source`]: lines (or CSV
//! records spanning lines) cut into chunks.

use std::sync::atomic::Ordering;

use super::{
    LineSource, QuotedRecords, RawChunk, ReadError, ReadOutcome, Source, SourceContext, SourceError,
};

pub struct LinesInput {
    pub lines: LineSource,
    /// CSV: a quoted field may hold newlines, so a record may span lines.
    pub quoted: bool,
}

impl Source for LinesInput {
    fn run(self: Box<Self>, cx: SourceContext<'_>) -> Result<(), SourceError> {
        read_chunks(self.lines, self.quoted, cx).map_err(SourceError::Read)
    }

    fn lines_mut(&mut self) -> Option<&mut LineSource> {
        Some(&mut self.lines)
    }
}

/// Reads `source` into chunks of up to `cx.chunk_records` records until its
/// end or `stop`. Sets `complete` when the end of the input was reached.
/// Counts the records (non-blank lines) read. A record is a line, or with
/// `quoted` (CSV) as many lines as a quoted field spans.
fn read_chunks(
    mut source: LineSource,
    quoted: bool,
    cx: SourceContext<'_>,
) -> Result<(), ReadError> {
    let SourceContext {
        out,
        chunk_records: chunk_lines,
        stop,
        complete,
        stats,
    } = cx;
    let mut chunk = RawChunk::new(0, chunk_lines);
    let mut line = Vec::new();
    let mut records = quoted.then(QuotedRecords::default);
    let read_error = |source: &LineSource, error| ReadError::new(source.name(), error);
    loop {
        if !source.wait_for_input(stop) {
            break;
        }
        match source
            .read_line(&mut line)
            .map_err(|e| read_error(&source, e))?
        {
            ReadOutcome::Eof => {
                complete.store(true, Ordering::SeqCst);
                break;
            }
            ReadOutcome::Wait => {}
            ReadOutcome::Line
                if line.iter().all(u8::is_ascii_whitespace)
                    && !records.as_ref().is_some_and(QuotedRecords::is_open) => {}
            outcome => {
                let too_long = match outcome {
                    ReadOutcome::TooLong(bytes) => bytes,
                    _ => 0,
                };
                let added = match &mut records {
                    Some(records) => records.push_line(
                        source.line_number(),
                        &line,
                        too_long,
                        source.max_line_bytes(),
                        &mut chunk,
                    ),
                    None => {
                        chunk.push(source.line_number(), &line).too_long = too_long;
                        1
                    }
                };
                stats.records.fetch_add(added, Ordering::Relaxed);
            }
        }
        let open = records.as_ref().is_some_and(QuotedRecords::is_open);
        let ready = !open
            && (chunk.records.len() >= chunk_lines
                || (!chunk.records.is_empty() && source.would_wait()));
        if ready {
            chunk.resume_at = source.resume_position();
            if let Some((offset, _)) = chunk.resume_at {
                stats.bytes_read.store(offset, Ordering::Relaxed);
            }
            let next = chunk.next();
            if out.send(std::mem::replace(&mut chunk, next)).is_err() {
                return Ok(()); // downstream stopped; its error is reported there
            }
        }
    }
    if let Some(records) = &mut records {
        let added = records.finish(&mut chunk);
        stats.records.fetch_add(added, Ordering::Relaxed);
    }
    if !chunk.records.is_empty() {
        chunk.resume_at = source.resume_position();
        let _ = out.send(chunk);
    }
    Ok(())
}
