//! Where a row came from, packed in one `u64` per row.
//!
//! The top 24 bits name a *stream* — a Kafka topic and partition; always 0 for
//! a file — and the low 40 bits a sequence number within it: the line for a
//! file, the offset plus one for Kafka. Position 0 means the row was made by an
//! operator (a window result), not read. Offsets commit per stream, so the
//! commit tracker and windows need the stream without knowing the source.

use std::fmt;

const SEQ_BITS: u32 = 40;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

/// The largest sequence number a position can hold (about 1.1 × 10¹²).
pub const MAX_SEQ: u64 = SEQ_MASK;

/// A topic index (8 bits) and partition (16 bits) as a stream id.
pub fn kafka_stream(topic_index: usize, partition: i32) -> Option<u32> {
    let topic = u32::try_from(topic_index).ok().filter(|&t| t < 256)?;
    let partition = u32::try_from(partition).ok().filter(|&p| p < 1 << 16)?;
    Some(topic << 16 | partition)
}

pub fn pack(stream: u32, seq: u64) -> u64 {
    debug_assert!(seq <= SEQ_MASK && stream < 1 << 24);
    (u64::from(stream) << SEQ_BITS) | (seq & SEQ_MASK)
}

pub fn stream_of(position: u64) -> u32 {
    (position >> SEQ_BITS) as u32
}

pub fn seq_of(position: u64) -> u64 {
    position & SEQ_MASK
}

/// What a pipeline reads from, to turn positions back into words for dead
/// letters and errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file's path, or `stdin`: positions are line numbers.
    Lines(String),
    /// Kafka topics, indexed as in [`kafka_stream`].
    Kafka(Vec<String>),
}

impl Origin {
    /// `file:line`, `topic [partition] offset N`, or the origin's name for rows
    /// an operator made.
    pub fn describe(&self, position: u64) -> String {
        if position == 0 {
            return self.to_string();
        }
        match self {
            Origin::Lines(name) => format!("{name}:{}", seq_of(position)),
            Origin::Kafka(topics) => {
                let stream = stream_of(position);
                let topic = topics
                    .get((stream >> 16) as usize)
                    .map_or("?", String::as_str);
                format!(
                    "{topic} [{}] offset {}",
                    stream & 0xffff,
                    seq_of(position) - 1
                )
            }
        }
    }

    /// The topic and partition of a stream id (Kafka only).
    pub fn topic_partition(&self, stream: u32) -> Option<(&str, i32)> {
        match self {
            Origin::Kafka(topics) => topics
                .get((stream >> 16) as usize)
                .map(|t| (t.as_str(), (stream & 0xffff) as i32)),
            Origin::Lines(_) => None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Lines(name) => f.write_str(name),
            Origin::Kafka(topics) => write!(f, "kafka:{}", topics.join(",")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_read_as_words() {
        let stream = kafka_stream(1, 3).unwrap();
        let position = pack(stream, 1_234 + 1);
        assert_eq!(stream_of(position), stream);
        assert_eq!(seq_of(position), 1_235);
        let origin = Origin::Kafka(vec!["a".into(), "sensors".into()]);
        assert_eq!(origin.describe(position), "sensors [3] offset 1234");
        assert_eq!(origin.topic_partition(stream), Some(("sensors", 3)));
        assert_eq!(origin.describe(0), "kafka:a,sensors");
        let file = Origin::Lines("in.jsonl".into());
        assert_eq!(file.describe(pack(0, 7)), "in.jsonl:7");
        assert_eq!(kafka_stream(256, 0), None);
        assert_eq!(kafka_stream(0, 70_000), None);
        assert_eq!(kafka_stream(0, -1), None);
    }
}
