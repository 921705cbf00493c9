//! Newline-delimited records from a file or standard input, read as a stream
//! with a bound on line length so one huge line cannot exhaust memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

pub struct LineSource {
    reader: BufReader<Box<dyn Read + Send>>,
    /// `path` or `stdin`, for dead-letter positions.
    name: String,
    max_line_bytes: usize,
    line: u64,
    /// Bytes consumed from the start of the file.
    offset: u64,
    /// A file, which a checkpoint can resume in the middle of.
    seekable: bool,
    /// Interactive input: hand over partial batches instead of waiting for more.
    interactive: bool,
}

/// One read from a [`LineSource`].
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// A line (without its newline) is in the buffer.
    Line,
    /// A line longer than the limit was skipped; its length in bytes.
    TooLong(usize),
    Eof,
}

impl LineSource {
    pub fn open(path: &Path, max_line_bytes: usize) -> io::Result<Self> {
        Self::open_at(path, max_line_bytes, 0, 0)
    }

    /// Opens `path` to read from `byte_offset`, where line `line` ended.
    pub fn open_at(
        path: &Path,
        max_line_bytes: usize,
        byte_offset: u64,
        line: u64,
    ) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        if byte_offset > len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the checkpoint resumes at byte {byte_offset}, but the file has only {len} bytes: it was replaced or truncated"
                ),
            ));
        }
        file.seek(SeekFrom::Start(byte_offset))?;
        let mut source = Self::new(
            Box::new(file),
            1 << 20,
            path.display().to_string(),
            max_line_bytes,
            false,
        );
        source.offset = byte_offset;
        source.line = line;
        source.seekable = true;
        Ok(source)
    }

    pub fn stdin(max_line_bytes: usize) -> Self {
        Self::new(
            Box::new(io::stdin()),
            1 << 16,
            "stdin".into(),
            max_line_bytes,
            true,
        )
    }

    pub fn from_reader(
        reader: impl Read + Send + 'static,
        name: &str,
        max_line_bytes: usize,
    ) -> Self {
        Self::new(
            Box::new(reader),
            1 << 16,
            name.into(),
            max_line_bytes,
            false,
        )
    }

    fn new(
        reader: Box<dyn Read + Send>,
        capacity: usize,
        name: String,
        max_line_bytes: usize,
        interactive: bool,
    ) -> Self {
        Self {
            reader: BufReader::with_capacity(capacity, reader),
            name,
            max_line_bytes,
            line: 0,
            offset: 0,
            seekable: false,
            interactive,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 1-based number of the line last read.
    pub fn line_number(&self) -> u64 {
        self.line
    }

    /// Where the next line starts and the number of the last line read, for
    /// checkpoints; `None` for input that cannot be read again (stdin).
    pub fn resume_position(&self) -> Option<(u64, u64)> {
        self.seekable.then_some((self.offset, self.line))
    }

    /// True when reading further would wait for input that has not arrived yet.
    pub fn would_wait(&self) -> bool {
        self.interactive && self.reader.buffer().is_empty()
    }

    /// For interactive input: waits until input is readable or `stop` is set,
    /// checking `stop` every 100 ms, so that a stop request is not stuck behind
    /// a blocking read. Returns false when stopped. Other sources return at once.
    pub fn wait_for_input(&self, stop: &std::sync::atomic::AtomicBool) -> bool {
        use std::sync::atomic::Ordering;
        if !self.would_wait() {
            return !stop.load(Ordering::Relaxed);
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let mut fd = libc::pollfd {
                fd: libc::STDIN_FILENO,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, for the duration of the call.
            let ready = unsafe { libc::poll(&mut fd, 1, 100) };
            // A signal interrupts poll (EINTR): look at `stop` again rather than
            // fall through to a read that would block.
            if ready < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // Readable, closed or in error: the read that follows reports which.
            if ready != 0 {
                return true;
            }
        }
    }

    /// Reads the next line into `buf` (cleared first). A last line without a
    /// newline is still a line.
    pub fn read_line(&mut self, buf: &mut Vec<u8>) -> io::Result<ReadOutcome> {
        buf.clear();
        let mut skipped = 0usize;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if buf.is_empty() && skipped == 0 {
                    return Ok(ReadOutcome::Eof);
                }
                self.line += 1;
                return Ok(self.finish(buf, skipped));
            }
            let (chunk, done) = match memchr::memchr(b'\n', available) {
                Some(newline) => (&available[..newline], Some(newline + 1)),
                None => (available, None),
            };
            if skipped > 0 || buf.len() + chunk.len() > self.max_line_bytes {
                skipped += buf.len() + chunk.len();
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
            let consumed = done.unwrap_or(available.len());
            self.reader.consume(consumed);
            self.offset += consumed as u64;
            if done.is_some() {
                self.line += 1;
                return Ok(self.finish(buf, skipped));
            }
        }
    }

    fn finish(&self, buf: &mut Vec<u8>, skipped: usize) -> ReadOutcome {
        if skipped > 0 {
            return ReadOutcome::TooLong(skipped);
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        ReadOutcome::Line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &'static str, max: usize) -> Vec<(u64, Result<String, usize>)> {
        let mut source = LineSource::from_reader(input.as_bytes(), "test", max);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match source.read_line(&mut buf).unwrap() {
                ReadOutcome::Eof => return out,
                ReadOutcome::Line => out.push((
                    source.line_number(),
                    Ok(String::from_utf8(buf.clone()).unwrap()),
                )),
                ReadOutcome::TooLong(n) => out.push((source.line_number(), Err(n))),
            }
        }
    }

    #[test]
    fn numbers_lines_and_keeps_an_unterminated_last_line() {
        assert_eq!(
            lines("a\r\n\nbc\nd", 10),
            vec![
                (1, Ok("a".into())),
                (2, Ok("".into())),
                (3, Ok("bc".into())),
                (4, Ok("d".into()))
            ]
        );
    }

    #[test]
    fn skips_over_long_lines_without_losing_the_next() {
        assert_eq!(
            lines("12345\nok\n123456789", 4),
            vec![(1, Err(5)), (2, Ok("ok".into())), (3, Err(9))]
        );
    }
}
