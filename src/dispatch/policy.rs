//! Per-credential delivery policy, as plain state machines over explicit time so they can be
//! tested without clocks: a token bucket (rate limit), exponential backoff with jitter
//! (retries), and a circuit breaker (stop calling a provider that keeps failing).

use std::time::{Duration, Instant};

/// Tokens refill continuously at `rate` per second up to `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate_per_second: f64, now: Instant) -> Self {
        let rate = rate_per_second.max(0.001);
        // One second of burst (at least one token) smooths arrival jitter without letting a
        // credential exceed its rate over any second.
        let burst = rate.max(1.0);
        Self { rate, burst, tokens: burst, last: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whole tokens available now (a batch takes one per message).
    pub fn available(&mut self, now: Instant) -> usize {
        self.refill(now);
        self.tokens.max(0.0).floor() as usize
    }

    /// The most whole tokens the bucket can hold (its burst).
    pub fn burst_tokens(&self) -> usize {
        self.burst.floor().max(1.0) as usize
    }

    /// How long until `n` tokens are available (`n` at most [`Self::burst_tokens`]).
    pub fn wait_for(&mut self, n: usize, now: Instant) -> Duration {
        self.refill(now);
        let missing = n as f64 - self.tokens;
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing / self.rate)
        }
    }

    /// Takes `n` tokens (after [`Self::available`] said they are there).
    pub fn take(&mut self, n: usize) {
        self.tokens -= n as f64;
    }

    /// How long until one token is available.
    pub fn wait_time(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }

    /// Slows the bucket after the provider said 429 (drains what is left).
    pub fn drain(&mut self) {
        self.tokens = self.tokens.min(0.0);
    }
}

/// Exponential backoff with "equal jitter": half fixed, half random, so retries of many
/// messages spread out instead of arriving together.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// Delay before retry number `retry` (0 = first retry); `unit` in [0, 1) is the jitter draw.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let exp = self.base.as_secs_f64() * 2f64.powi(retry.min(30) as i32);
        let capped = exp.min(self.max.as_secs_f64());
        Duration::from_secs_f64(capped / 2.0 + capped / 2.0 * unit.clamp(0.0, 1.0))
    }
}

/// A small xorshift generator for jitter (no cryptographic use).
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new() -> Self {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).expect("OS random source");
        Self(u64::from_le_bytes(seed) | 1)
    }

    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// Opens after `threshold` consecutive failures; after `open_for` lets one probe through
/// (half-open); the probe's success closes it, its failure opens it again.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    threshold: u32,
    open_for: Duration,
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// What the breaker says about the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Call away.
    Allow,
    /// Half-open and a probe is out: wait for its answer.
    Wait,
    /// Open: send the work elsewhere.
    Reject,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self { threshold: threshold.max(1), open_for, failures: 0, open_until: None, probing: false }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(until) if now < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Asks to make a call; in half-open state the first caller becomes the probe.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state(now) {
            BreakerState::Closed => Admission::Allow,
            BreakerState::Open => Admission::Reject,
            BreakerState::HalfOpen if self.probing => Admission::Wait,
            BreakerState::HalfOpen => {
                self.probing = true;
                Admission::Allow
            }
        }
    }

    pub fn record_success(&mut self) {
        self.failures = 0;
        self.open_until = None;
        self.probing = false;
    }

    /// Returns true when this failure opened the circuit.
    pub fn record_failure(&mut self, now: Instant) -> bool {
        self.failures += 1;
        let was_probe = self.probing;
        self.probing = false;
        if was_probe || (self.open_until.is_none() && self.failures >= self.threshold) {
            self.open_until = Some(now + self.open_for);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_limits_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, t0);
        let taken = (0..100).filter(|_| b.try_take(t0)).count();
        assert_eq!(taken, 10, "one second of burst");
        assert!(!b.try_take(t0));
        assert!((b.wait_time(t0).as_secs_f64() - 0.1).abs() < 1e-6);
        assert!(b.try_take(t0 + Duration::from_millis(100)));
        assert!(!b.try_take(t0 + Duration::from_millis(100)));
        // Over 10 s at most 10/s (+ the burst).
        let mut b = TokenBucket::new(10.0, t0);
        let mut n = 0;
        for ms in 0..10_000 {
            if b.try_take(t0 + Duration::from_millis(ms)) {
                n += 1;
            }
        }
        assert!((100..=111).contains(&n), "{n}");
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff { base: Duration::from_millis(100), max: Duration::from_secs(2) };
        assert_eq!(b.delay(0, 0.0), Duration::from_millis(50));
        assert_eq!(b.delay(0, 1.0), Duration::from_millis(100));
        assert_eq!(b.delay(3, 1.0), Duration::from_millis(800));
        assert_eq!(b.delay(10, 1.0), Duration::from_secs(2));
        assert_eq!(b.delay(10, 0.0), Duration::from_secs(1));
        let mut j = Jitter::new();
        let draws: Vec<f64> = (0..1000).map(|_| j.unit()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        assert!(draws.iter().any(|d| *d < 0.1) && draws.iter().any(|d| *d > 0.9));
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let t0 = Instant::now();
        let mut c = CircuitBreaker::new(3, Duration::from_secs(10));
        assert!(!c.record_failure(t0));
        assert!(!c.record_failure(t0));
        assert_eq!(c.admit(t0), Admission::Allow);
        assert!(c.record_failure(t0), "third consecutive failure opens");
        assert_eq!(c.state(t0), BreakerState::Open);
        assert_eq!(c.admit(t0 + Duration::from_secs(5)), Admission::Reject);
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(c.admit(t1), Admission::Allow, "half-open: one probe");
        assert_eq!(c.admit(t1), Admission::Wait, "second caller waits for the probe");
        assert!(c.record_failure(t1), "failed probe reopens");
        assert_eq!(c.admit(t1 + Duration::from_secs(1)), Admission::Reject);
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(c.admit(t2), Admission::Allow);
        c.record_success();
        assert_eq!(c.state(t2), BreakerState::Closed);
        // A success resets the count of consecutive failures.
        c.record_failure(t2);
        c.record_failure(t2);
        c.record_success();
        assert!(!c.record_failure(t2));
    }
}
