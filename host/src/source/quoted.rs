//! CSV records that span lines.
//!
//! RFC 4180 lets a quoted field hold a newline, so a CSV record ends at the
//! first newline outside quotes, not at the first newline. Every quote
//! opens or closes a quoted field (an escaped quote is two of them), so a
//! record is still open while it holds an odd number of quotes.

use super::RawChunk;

/// Joins the lines of one CSV record before it goes into a chunk.
#[derive(Default)]
pub struct QuotedRecords {
    record: Vec<u8>,
    /// The line the open record started on: where a dead letter points.
    first_line: u64,
    open: bool,
    /// Bytes of an open record past the length limit, dropped.
    too_long: usize,
}

impl QuotedRecords {
    /// Whether a record has begun and not ended: a chunk must not end here,
    /// or a resume would start in the middle of it.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Takes line `number`, or the length of a line over the limit
    /// (`too_long`), and pushes the record it ends, if any, to `chunk`;
    /// returns the records pushed (0 or 1).
    pub fn push_line(
        &mut self,
        number: u64,
        line: &[u8],
        too_long: usize,
        max_bytes: usize,
        chunk: &mut RawChunk,
    ) -> u64 {
        if !self.open {
            self.first_line = number;
            self.record.clear();
            self.too_long = 0;
        } else if self.too_long == 0 {
            self.record.push(b'\n');
        }
        let quotes = memchr::memchr_iter(b'"', line).count();
        self.open ^= quotes % 2 == 1;
        if too_long > 0 || self.too_long > 0 || self.record.len() + line.len() > max_bytes {
            self.too_long += self.record.len() + line.len() + too_long;
            self.record.clear();
        } else {
            self.record.extend_from_slice(line);
        }
        if self.open {
            return 0;
        }
        self.push_record(chunk);
        1
    }

    /// The end of the input: a record still open has a quote never closed;
    /// it goes on as it is, and the decoder refuses it, naming that.
    /// Returns the records pushed (0 or 1).
    pub fn finish(&mut self, chunk: &mut RawChunk) -> u64 {
        if !self.open {
            return 0;
        }
        self.open = false;
        self.push_record(chunk);
        1
    }

    fn push_record(&mut self, chunk: &mut RawChunk) {
        chunk.push(self.first_line, &self.record).too_long = self.too_long;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(lines: &[&str], max: usize) -> Vec<(u64, String, usize)> {
        let mut chunk = RawChunk::new(0, 8);
        let mut quoted = QuotedRecords::default();
        for (i, line) in lines.iter().enumerate() {
            quoted.push_line(i as u64 + 1, line.as_bytes(), 0, max, &mut chunk);
        }
        quoted.finish(&mut chunk);
        chunk
            .records
            .iter()
            .map(|r| {
                let text = String::from_utf8_lossy(&chunk.data[r.start..r.end]).into_owned();
                (r.position, text, r.too_long)
            })
            .collect()
    }

    #[test]
    fn a_quoted_newline_continues_the_record() {
        let got = records(
            &[
                "a,1",
                "\"sensor-0001",
                "-north\",101.5",
                "\"say \"\"hi\"\"\",2",
            ],
            1000,
        );
        assert_eq!(
            got,
            vec![
                (1, "a,1".into(), 0),
                (2, "\"sensor-0001\n-north\",101.5".into(), 0),
                (4, "\"say \"\"hi\"\"\",2".into(), 0),
            ]
        );
    }

    #[test]
    fn an_unterminated_quote_runs_to_the_end_as_one_record() {
        let got = records(&["ok,1", "\"never closed,2", "x,3"], 1000);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], (2, "\"never closed,2\nx,3".into(), 0));
    }

    #[test]
    fn a_record_over_the_limit_is_one_too_long_record() {
        let got = records(&["\"aaaa", "bbbb", "cc\",1", "next,2"], 8);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0, got[0].1.as_str()), (1, ""));
        assert!(got[0].2 > 8);
        assert_eq!(got[1], (4, "next,2".into(), 0));
    }
}
