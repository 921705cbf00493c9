//! The seed's first project: a clickstream (user_id, page, event_time) for
//! "clicks per page every 60 s". Page popularity follows a Zipf law, as on
//! real sites; users click in sessions, a few pages each, then go quiet.

use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Pacer, START_MS};

/// Clicks: user_id, page (Zipf-skewed popularity), event_time; users click
/// in short sessions.
#[derive(Debug, Clone, clap::Args)]
pub struct ClickWorkload {
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value_t = 5_000)]
    pub users: u32,
    #[arg(long, default_value_t = 200)]
    pub pages: u32,
    /// Zipf exponent of page popularity (about 1 on real sites).
    #[arg(long, default_value_t = 1.0)]
    pub skew: f64,
    /// Event time of the first click, epoch millis.
    #[arg(skip = START_MS)]
    pub start_ms: i64,
    /// Largest delay of a click behind its natural order, in ms.
    #[arg(long, default_value_t = 2_000)]
    pub max_disorder_ms: i64,
    /// Clicks per second of wall-clock time, for a live stream (default: as
    /// fast as the output takes them).
    #[arg(long)]
    pub rate: Option<u64>,
}

impl Default for ClickWorkload {
    fn default() -> Self {
        Self {
            events: 1_000_000,
            seed: 42,
            users: 5_000,
            pages: 200,
            skew: 1.0,
            start_ms: START_MS,
            max_disorder_ms: 2_000,
            rate: None,
        }
    }
}

/// The page names a workload uses, most popular first.
pub fn page_name(rank: u32) -> String {
    match rank {
        0 => "/".into(),
        r if r % 5 == 1 => format!("/search?q={r}"),
        r => format!("/products/{r}"),
    }
}

/// Writes `workload.events` clicks as NDJSON, about 1 ms apart (or paced to
/// `rate`), in bounded disorder.
pub fn write_clicks(workload: &ClickWorkload, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(workload.seed);
    let pages = workload.pages.max(1);
    let users = workload.users.max(1);
    // Inverse-CDF sampling of a Zipf law over page ranks.
    let mut cumulative = Vec::with_capacity(pages as usize);
    let mut total = 0.0;
    for rank in 1..=pages {
        total += 1.0 / (rank as f64).powf(workload.skew);
        cumulative.push(total);
    }
    // The user of the session in progress, and how many clicks it has left.
    let mut session: Option<(u32, u32)> = None;
    let pacer = Pacer::new(workload.rate);
    for i in 0..workload.events {
        pacer.wait_for(i, out)?;
        let user = match session {
            Some((user, left)) if left > 0 && rng.random_bool(0.7) => {
                session = Some((user, left - 1));
                user
            }
            _ => {
                let user = rng.random_range(1..=users);
                session = Some((user, rng.random_range(1..=8)));
                user
            }
        };
        let draw = rng.random_range(0.0..total);
        let rank = cumulative.partition_point(|&c| c <= draw) as u32;
        let delay = rng.random_range(0..=workload.max_disorder_ms.max(0));
        let event_time = workload.start_ms + pacer.offset_ms(i) - delay;
        writeln!(
            out,
            r#"{{"user_id":"user-{user:05}","page":"{}","event_time":{event_time}}}"#,
            page_name(rank.min(pages - 1))
        )?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn generate(workload: &ClickWorkload) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        write_clicks(workload, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn is_deterministic_and_skewed_towards_the_top_pages() {
        let w = ClickWorkload {
            events: 20_000,
            ..Default::default()
        };
        let clicks = generate(&w);
        assert_eq!(clicks, generate(&w));
        let mut per_page: HashMap<String, u32> = HashMap::new();
        for click in &clicks {
            *per_page
                .entry(click["page"].as_str().unwrap().into())
                .or_default() += 1;
        }
        let home = per_page["/"];
        let tail = per_page.get(&page_name(150)).copied().unwrap_or(0);
        // Zipf with exponent 1: rank 1 gets ~151 times the clicks of rank 151.
        assert!(home > 20 * tail.max(1), "home {home}, rank 151 {tail}");
        assert!(per_page.len() > 150, "the long tail is there too");
    }

    #[test]
    fn stays_within_the_disorder_bound() {
        let w = ClickWorkload {
            events: 5_000,
            ..Default::default()
        };
        let mut max_seen = i64::MIN;
        for click in generate(&w) {
            let t = click["event_time"].as_i64().unwrap();
            assert!(t >= max_seen.saturating_sub(w.max_disorder_ms));
            max_seen = max_seen.max(t);
        }
    }
}
