//! Task supervisor with exponential backoff + jitter, and a sliding-window error counter
//! (circuit breaker) that tells the caller to exit non-zero so systemd / Docker restart the
//! whole process.
//!
//! igloo-server's version counted errors forever and restarted the node in a tight loop; here
//! the count forgets errors older than the window, the delay grows exponentially with full
//! jitter, and it resets after the task has run stably.

use std::collections::VecDeque;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;

use super::Liveness;

/// Exit code for "too many unexpected errors" (`EX_SOFTWARE`); any non-zero code makes
/// `Restart=on-failure` restart the service.
pub const EXIT_CIRCUIT_OPEN: i32 = 70;

/// Exponential backoff with jitter: attempt n waits a random delay in
/// `[d/2, d]` where `d = min(max, base * 2^n)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The un-jittered delay of the next attempt.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The next delay (jittered) and advances the attempt counter.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let half = d / 2;
        let span = (d - half).as_micros() as u64;
        let jitter = if span == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=span)
        };
        half + Duration::from_micros(jitter)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

/// Sliding-window error counter: trips when more than `max_errors` errors happened within
/// `window`.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    window: Duration,
    max_errors: usize,
    errors: VecDeque<Instant>,
}

impl CircuitBreaker {
    pub fn new(window: Duration, max_errors: usize) -> CircuitBreaker {
        CircuitBreaker {
            window,
            max_errors,
            errors: VecDeque::new(),
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&t) = self.errors.front() {
            if now.saturating_duration_since(t) > self.window {
                self.errors.pop_front();
            } else {
                break;
            }
        }
    }

    /// Records an error at `now`; returns true when the breaker is open (too many errors).
    pub fn record_at(&mut self, now: Instant) -> bool {
        self.expire(now);
        self.errors.push_back(now);
        self.errors.len() > self.max_errors
    }

    /// Records an error now; returns true when the caller should exit non-zero.
    pub fn record(&mut self) -> bool {
        self.record_at(Instant::now())
    }

    /// Errors currently inside the window.
    pub fn count(&mut self) -> usize {
        self.expire(Instant::now());
        self.errors.len()
    }
}

/// Supervisor settings.
#[derive(Debug, Clone)]
pub struct SuperviseOptions {
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A run that lasted this long resets the backoff.
    pub stable_after: Duration,
    pub window: Duration,
    /// More than this many failures within `window` opens the circuit.
    pub max_errors: usize,
}

impl Default for SuperviseOptions {
    fn default() -> Self {
        SuperviseOptions {
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            stable_after: Duration::from_secs(60),
            window: Duration::from_secs(300),
            max_errors: 10,
        }
    }
}

/// Counters for `/api/status` and `/metrics` (cheap clone; shared with the running supervisor).
#[derive(Debug, Clone, Default)]
pub struct SupervisorStats {
    restarts: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
}

impl SupervisorStats {
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(
        "{task}: {errors} failures within {window_s} s (last: {last}); exiting so the service manager restarts us"
    )]
    CircuitOpen {
        task: String,
        errors: usize,
        window_s: u64,
        last: String,
    },
}

/// Runs `make()` as a task, re-creating it after a failure (an `Err` or a panic) with
/// exponential backoff and jitter. Returns `Ok(())` when a run ends with `Ok(())` (a clean
/// stop), and `Err(CircuitOpen)` when more than `max_errors` failures happen within `window`:
/// the caller then exits with [`EXIT_CIRCUIT_OPEN`].
///
/// If `liveness` is given, the supervisor beats `name` after every (re)start; the task itself
/// should keep beating `name` while it runs.
pub async fn supervise<F, Fut, E>(
    name: &str,
    opts: SuperviseOptions,
    stats: SupervisorStats,
    liveness: Option<Liveness>,
    mut make: F,
) -> Result<(), SupervisorError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let mut backoff = Backoff::new(opts.backoff_base, opts.backoff_max);
    let mut breaker = CircuitBreaker::new(opts.window, opts.max_errors);
    loop {
        if let Some(l) = &liveness {
            l.beat(name);
        }
        let started = Instant::now();
        let outcome = tokio::spawn(make()).await;
        let reason = match outcome {
            Ok(Ok(())) => {
                tracing::info!(task = name, "task finished");
                return Ok(());
            }
            Ok(Err(e)) => e.to_string(),
            Err(join) if join.is_panic() => "task panicked".to_owned(),
            Err(_) => "task cancelled".to_owned(),
        };
        stats.failures.fetch_add(1, Ordering::Relaxed);
        if started.elapsed() >= opts.stable_after {
            backoff.reset();
        }
        if breaker.record() {
            let errors = breaker.count();
            tracing::error!(task = name, errors, error = %reason, "circuit open");
            return Err(SupervisorError::CircuitOpen {
                task: name.to_owned(),
                errors,
                window_s: opts.window.as_secs(),
                last: reason,
            });
        }
        let delay = backoff.next_delay();
        tracing::warn!(
            task = name,
            error = %reason,
            retry_in_ms = delay.as_millis() as u64,
            "task failed; restarting"
        );
        tokio::time::sleep(delay).await;
        stats.restarts.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters_within_bounds() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut ceilings = vec![];
        for _ in 0..8 {
            let c = b.ceiling();
            let d = b.next_delay();
            assert!(d >= c / 2 && d <= c, "{d:?} not in [{:?},{c:?}]", c / 2);
            ceilings.push(c.as_millis());
        }
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000, 1000, 1000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
        // many attempts never overflow
        for _ in 0..100 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), Duration::from_secs(1));
    }

    #[test]
    fn jitter_varies() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
            seen.insert(b.next_delay());
        }
        assert!(seen.len() > 1, "no jitter: {seen:?}");
    }

    #[test]
    fn breaker_counts_only_inside_window() {
        let mut cb = CircuitBreaker::new(Duration::from_secs(10), 3);
        let t0 = Instant::now();
        assert!(!cb.record_at(t0));
        assert!(!cb.record_at(t0 + Duration::from_secs(1)));
        assert!(!cb.record_at(t0 + Duration::from_secs(2)));
        // errors at 0..2 s expire by 13 s; only 2 in window then
        assert!(!cb.record_at(t0 + Duration::from_secs(13)));
        assert!(!cb.record_at(t0 + Duration::from_secs(14)));
        assert!(!cb.record_at(t0 + Duration::from_secs(15)));
        assert!(
            cb.record_at(t0 + Duration::from_secs(16)),
            "4 errors in 10 s must trip"
        );
    }

    fn fast() -> SuperviseOptions {
        SuperviseOptions {
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(4),
            stable_after: Duration::from_secs(60),
            window: Duration::from_secs(60),
            max_errors: 3,
        }
    }

    #[tokio::test]
    async fn restarts_until_success() {
        let stats = SupervisorStats::default();
        let runs = Arc::new(AtomicU64::new(0));
        let r = runs.clone();
        let res = supervise("t", fast(), stats.clone(), None, move || {
            let r = r.clone();
            async move {
                if r.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err("boom")
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert!(res.is_ok());
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert_eq!(stats.restarts(), 2);
        assert_eq!(stats.failures(), 2);
    }

    #[tokio::test]
    async fn circuit_opens_on_repeated_failures_and_panics() {
        let stats = SupervisorStats::default();
        let live = Liveness::new();
        let res = supervise(
            "node",
            fast(),
            stats.clone(),
            Some(live.clone()),
            || async {
                if rand::random::<bool>() {
                    panic!("simulated crash");
                }
                Err::<(), _>("always fails")
            },
        )
        .await;
        match res {
            Err(SupervisorError::CircuitOpen { task, errors, .. }) => {
                assert_eq!(task, "node");
                assert_eq!(errors, 4);
            }
            Ok(()) => panic!("breaker did not open"),
        }
        assert_eq!(stats.failures(), 4);
        assert!(
            live.snapshot()
                .iter()
                .any(|c| c.name == "node" && c.beats == 4)
        );
    }
}
