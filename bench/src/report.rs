//! Latency histograms and the one JSON line the load generator prints.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::client::Outcome;

/// Longest latency a histogram holds (anything slower is clamped to it).
const MAX_NANOS: u64 = 120_000_000_000;

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, MAX_NANOS, 3)?)
}

/// Counts and histograms of one run (or one connection's share of it; see [`merge`]).
///
/// [`merge`]: Recorder::merge
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Successful answers: time from the scheduled send (fixed rate) or the actual send
    /// (saturation) to the last byte of the answer.
    pub latency: Histogram<u64>,
    /// Fixed rate only: from the actual send to the last byte.
    pub service: Histogram<u64>,
    /// Fixed rate only: how late requests left compared with their schedule (timer slack,
    /// a busy machine, or no free connection).
    pub lag: Histogram<u64>,
    pub ok: u64,
    pub unexpected: u64,
    pub failed: u64,
    pub timed_out: u64,
}

impl Recorder {
    pub fn new() -> anyhow::Result<Recorder> {
        Ok(Recorder {
            latency: histogram()?,
            service: histogram()?,
            lag: histogram()?,
            ok: 0,
            unexpected: 0,
            failed: 0,
            timed_out: 0,
        })
    }

    /// Counts `outcome`; a success also records its latency.
    pub fn record(&mut self, outcome: Outcome, latency: Duration) {
        match outcome {
            Outcome::Ok => {
                self.ok += 1;
                self.latency.saturating_record(nanos(latency));
            }
            Outcome::Unexpected => self.unexpected += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::TimedOut => self.timed_out += 1,
        }
    }

    pub fn merge(&mut self, other: &Recorder) -> anyhow::Result<()> {
        self.latency.add(&other.latency)?;
        self.service.add(&other.service)?;
        self.lag.add(&other.lag)?;
        self.ok += other.ok;
        self.unexpected += other.unexpected;
        self.failed += other.failed;
        self.timed_out += other.timed_out;
        Ok(())
    }

    pub fn errors(&self) -> u64 {
        self.unexpected + self.failed + self.timed_out
    }

    /// The counts and the latency percentiles (milliseconds) as JSON fields.
    pub fn json(&self, elapsed: Duration) -> Value {
        let secs = elapsed.as_secs_f64();
        let mut value = json!({
            "requests": self.ok + self.errors(),
            "ok": self.ok,
            "errors": {
                "unexpected_answer": self.unexpected,
                "failed": self.failed,
                "timed_out": self.timed_out,
            },
            "elapsed_s": round(secs, 3),
            "rps": if secs > 0.0 { round(self.ok as f64 / secs, 1) } else { 0.0 },
            "latency_ms": percentiles(&self.latency),
        });
        if !self.service.is_empty()
            && let Some(object) = value.as_object_mut()
        {
            object.insert("service_ms".into(), percentiles(&self.service));
            object.insert("send_lag_ms".into(), percentiles(&self.lag));
        }
        value
    }
}

pub fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// p50/p90/p99/p99.9/max/mean in milliseconds, to a tenth of a microsecond.
pub fn percentiles(histogram: &Histogram<u64>) -> Value {
    let ms = |nanos: u64| round(nanos as f64 / 1e6, 4);
    json!({
        "p50": ms(histogram.value_at_quantile(0.50)),
        "p90": ms(histogram.value_at_quantile(0.90)),
        "p99": ms(histogram.value_at_quantile(0.99)),
        "p99_9": ms(histogram.value_at_quantile(0.999)),
        "max": ms(histogram.max()),
        "mean": round(histogram.mean() / 1e6, 4),
    })
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_in_milliseconds() {
        let mut recorder = Recorder::new().unwrap();
        for micros in 1..=1000 {
            recorder.record(Outcome::Ok, Duration::from_micros(micros));
        }
        recorder.record(Outcome::TimedOut, Duration::ZERO);
        let json = recorder.json(Duration::from_secs(2));
        assert_eq!(json["ok"], 1000);
        assert_eq!(json["requests"], 1001);
        assert_eq!(json["errors"]["timed_out"], 1);
        assert_eq!(json["rps"], 500.0);
        let p50 = json["latency_ms"]["p50"].as_f64().unwrap();
        assert!((p50 - 0.5).abs() < 0.001, "{p50}");
        let max = json["latency_ms"]["max"].as_f64().unwrap();
        assert!((max - 1.0).abs() < 0.001, "{max}");
        assert!(json.get("service_ms").is_none());
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = Recorder::new().unwrap();
        let mut b = Recorder::new().unwrap();
        a.record(Outcome::Ok, Duration::from_millis(1));
        b.record(Outcome::Ok, Duration::from_millis(3));
        b.record(Outcome::Failed, Duration::ZERO);
        a.merge(&b).unwrap();
        assert_eq!((a.ok, a.failed, a.latency.len()), (2, 1, 2));
    }
}
