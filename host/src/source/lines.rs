//! Newline-delimited records from a file or standard input, read as a stream
//! with a bound on line length so one huge line cannot exhaust memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a followed file is looked at while it does not grow.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// A file read like `tail -F`: kept open at its end, and reopened when the
/// path is given a new file (rotation) or the file shrinks (truncation).
struct Follow {
    path: PathBuf,
    /// (device, inode) of the file being read.
    identity: (u64, u64),
    /// A line whose end has not been written yet.
    partial: Vec<u8>,
    /// After a rotation: the old file's unterminated last line is complete.
    flush_partial: bool,
    /// Bytes of an over-long line skipped so far, when its end has not come.
    skipping: usize,
}

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
    follow: Option<Follow>,
}

/// One read from a [`LineSource`].
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// A line (without its newline) is in the buffer.
    Line,
    /// A line longer than the limit was skipped; its length in bytes.
    TooLong(usize),
    /// A followed file has no complete line yet; wait for input and read again.
    Wait,
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

    /// Opens `path` to follow it from `byte_offset` (see [`Follow`]). A
    /// checkpoint's offset past the file's end means the file was rotated
    /// or truncated while weir was down: it is read from its start.
    pub fn follow(
        path: &Path,
        max_line_bytes: usize,
        byte_offset: u64,
        line: u64,
    ) -> io::Result<Self> {
        let len = std::fs::metadata(path)?.len();
        let (byte_offset, line) = if byte_offset > len {
            tracing::warn!(path = %path.display(), byte_offset, len, "the followed file is shorter than at the checkpoint (rotated or truncated): reading it from the start");
            (0, 0)
        } else {
            (byte_offset, line)
        };
        let mut source = Self::open_at(path, max_line_bytes, byte_offset, line)?;
        let metadata = std::fs::metadata(path)?;
        source.interactive = true;
        source.follow = Some(Follow {
            path: path.into(),
            identity: (metadata.dev(), metadata.ino()),
            partial: Vec::new(),
            flush_partial: false,
            skipping: 0,
        });
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
            follow: None,
        }
    }

    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
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
        let partial = self.follow.as_ref().map_or(0, |f| f.partial.len() as u64);
        self.seekable.then_some((self.offset - partial, self.line))
    }

    /// True when reading further would wait for input that has not arrived yet.
    pub fn would_wait(&self) -> bool {
        self.interactive && self.reader.buffer().is_empty()
    }

    /// For interactive input: waits until input is readable or `stop` is set,
    /// checking `stop` every 100 ms, so that a stop request is not stuck behind
    /// a blocking read. Returns false when stopped. Other sources return at once.
    pub fn wait_for_input(&mut self, stop: &std::sync::atomic::AtomicBool) -> bool {
        use std::sync::atomic::Ordering;
        if !self.would_wait() {
            return !stop.load(Ordering::Relaxed);
        }
        if self.follow.is_some() {
            return self.wait_for_growth(stop);
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

    /// A followed file at its end: waits until it grows, is rotated or is
    /// truncated (reopening it for the last two), or `stop` is set.
    fn wait_for_growth(&mut self, stop: &std::sync::atomic::AtomicBool) -> bool {
        use std::sync::atomic::Ordering;
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let path = self.follow.as_ref().expect("following").path.clone();
            let known = self.follow.as_ref().expect("following").identity;
            // A path briefly missing mid-rotation is looked at again later.
            if let Ok(metadata) = std::fs::metadata(&path) {
                let identity = (metadata.dev(), metadata.ino());
                let in_file = self.offset;
                if identity != known {
                    // Rotated: the old file is read to its end (we are there).
                    match self.reopen(identity, true) {
                        Ok(()) => return true,
                        Err(e) => {
                            tracing::warn!(path = %path.display(), "cannot open the rotated file yet: {e}")
                        }
                    }
                } else if metadata.len() < in_file {
                    tracing::warn!(path = %path.display(), "the followed file was truncated: reading it from the start");
                    match self.reopen(identity, false) {
                        Ok(()) => return true,
                        Err(e) => {
                            tracing::warn!(path = %path.display(), "cannot reopen the truncated file: {e}")
                        }
                    }
                } else if metadata.len() > in_file {
                    return true;
                }
            }
            std::thread::sleep(FOLLOW_POLL);
        }
    }

    /// Starts reading the file now at the followed path from its start.
    fn reopen(&mut self, identity: (u64, u64), rotated: bool) -> io::Result<()> {
        let follow = self.follow.as_mut().expect("following");
        let file = File::open(&follow.path)?;
        self.reader = BufReader::with_capacity(1 << 20, Box::new(file));
        follow.identity = identity;
        if rotated {
            follow.flush_partial = !follow.partial.is_empty();
        } else {
            follow.partial.clear();
        }
        // Until the old file's last line is handed on, a checkpoint resumes
        // at the new file's start.
        self.offset = follow.partial.len() as u64;
        self.line = 0;
        Ok(())
    }

    /// Reads the next line into `buf` (cleared first). A last line without a
    /// newline is still a line, except in a followed file, where it may be
    /// still being written: [`ReadOutcome::Wait`] until its newline comes.
    pub fn read_line(&mut self, buf: &mut Vec<u8>) -> io::Result<ReadOutcome> {
        buf.clear();
        let mut skipped = 0usize;
        if let Some(follow) = &mut self.follow {
            buf.append(&mut follow.partial);
            skipped = std::mem::take(&mut follow.skipping);
            if std::mem::take(&mut follow.flush_partial) {
                self.offset -= buf.len() as u64;
                self.line += 1;
                return Ok(self.finish(buf, 0));
            }
        }
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if let Some(follow) = &mut self.follow {
                    follow.partial.append(buf);
                    follow.skipping = skipped;
                    return Ok(ReadOutcome::Wait);
                }
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
                ReadOutcome::Eof | ReadOutcome::Wait => return out,
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

    /// Drives a followed file as the reader thread does, until `want` lines came.
    fn follow_lines(source: &mut LineSource, want: usize) -> Vec<String> {
        let stop = std::sync::atomic::AtomicBool::new(false);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while out.len() < want {
            assert!(source.wait_for_input(&stop));
            match source.read_line(&mut buf).unwrap() {
                ReadOutcome::Line => out.push(String::from_utf8(buf.clone()).unwrap()),
                ReadOutcome::Wait => {}
                other => panic!("{other:?}"),
            }
        }
        out
    }

    #[test]
    fn a_followed_file_waits_for_line_ends_and_survives_rotation_and_truncation() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let append = |text: &str| {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap();
            file.write_all(text.as_bytes()).unwrap();
        };
        append("a\nb");
        let mut source = LineSource::follow(&path, 100, 0, 0).unwrap();
        assert_eq!(follow_lines(&mut source, 1), ["a"]);
        let mut buf = Vec::new();
        assert_eq!(source.read_line(&mut buf).unwrap(), ReadOutcome::Wait);
        assert_eq!(
            source.resume_position(),
            Some((2, 1)),
            "resumes before the partial line"
        );
        append("c\nd\n");
        assert_eq!(follow_lines(&mut source, 2), ["bc", "d"]);
        assert_eq!(source.resume_position(), Some((7, 3)));

        // Rotation: the old file's unterminated last line, then the new file.
        append("e");
        assert_eq!(source.read_line(&mut buf).unwrap(), ReadOutcome::Wait);
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        append("f\nff\n");
        assert_eq!(follow_lines(&mut source, 3), ["e", "f", "ff"]);

        // Truncation (copytruncate), noticed as the file being shorter than
        // what was read: read again from the start.
        std::fs::write(&path, "").unwrap();
        append("g\n");
        assert_eq!(follow_lines(&mut source, 1), ["g"]);
        assert_eq!(source.resume_position(), Some((2, 1)));
    }
}
