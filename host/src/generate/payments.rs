//! The seed's fraud example: purchases (user_id, amount, ip, event_time),
//! mostly ordinary, each user buying from one or two usual addresses, with a
//! planted pattern now and then — a tiny "test" purchase, then within minutes
//! a large one from an address the user never used.

use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Pacer, START_MS};

/// Purchases: user_id, amount, ip, event_time, with planted fraud.
#[derive(Debug, Clone, clap::Args)]
pub struct PaymentWorkload {
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value_t = 10_000)]
    pub users: u32,
    /// Fraction of purchases that start a planted fraud pattern.
    #[arg(long, default_value_t = 0.001)]
    pub fraud_ratio: f64,
    /// Event time of the first purchase, epoch millis.
    #[arg(skip = START_MS)]
    pub start_ms: i64,
    /// Purchases per second of wall-clock time, for a live stream.
    #[arg(long)]
    pub rate: Option<u64>,
}

impl Default for PaymentWorkload {
    fn default() -> Self {
        Self {
            events: 1_000_000,
            seed: 42,
            users: 10_000,
            fraud_ratio: 0.001,
            start_ms: START_MS,
            rate: None,
        }
    }
}

/// A user's usual addresses: derived from the user, so every run agrees.
fn usual_ip(user: u32, which: u32) -> String {
    format!("10.{}.{}.{}", user % 200, (user / 200) % 250, 1 + which)
}

/// Writes the workload as NDJSON, event times 10 ms apart (in order). The
/// same settings always give the same bytes.
pub fn write_payments(
    workload: &PaymentWorkload,
    out: &mut (impl Write + ?Sized),
) -> io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(workload.seed);
    let users = workload.users.max(1);
    let pacer = Pacer::new(workload.rate);
    // (user, due event index) of the large purchases the planted patterns owe.
    let mut pending: Vec<(u32, u64, String)> = Vec::new();
    for i in 0..workload.events {
        pacer.wait_for(i, out)?;
        let event_time = workload.start_ms + pacer.offset_ms(i) * 10;
        let (user, cents, ip) = match pending.iter().position(|(_, due, _)| *due <= i) {
            Some(index) => {
                let (user, _, ip) = pending.swap_remove(index);
                (user, rng.random_range(80_000..=300_000), ip)
            }
            None => {
                let user = rng.random_range(1..=users);
                if rng.random_bool(workload.fraud_ratio.clamp(0.0, 1.0)) {
                    // A test purchase now; the large one 1 to 4 minutes later.
                    let later = i + rng.random_range(6_000..=24_000);
                    let ip = format!("203.0.113.{}", rng.random_range(1..=254));
                    pending.push((user, later, ip));
                    (user, rng.random_range(50..=300), usual_ip(user, 0))
                } else {
                    let which = rng.random_range(0..2);
                    (user, rng.random_range(500..=20_000), usual_ip(user, which))
                }
            }
        };
        writeln!(
            out,
            r#"{{"user_id":"user-{user:05}","amount":{}.{:02},"ip":"{ip}","event_time":{event_time}}}"#,
            cents / 100,
            cents % 100
        )?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_deterministic_and_plants_large_purchases_from_new_addresses() {
        let w = PaymentWorkload {
            events: 50_000,
            fraud_ratio: 0.01,
            ..Default::default()
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_payments(&w, &mut a).unwrap();
        write_payments(&w, &mut b).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        let planted = text.lines().filter(|l| l.contains("203.0.113.")).count();
        assert!((200..800).contains(&planted), "about 1% planted: {planted}");
    }
}
