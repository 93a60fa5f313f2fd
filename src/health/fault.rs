//! Test-only fault switch: make the process "hang" so the watchdog tests can watch systemd
//! kill it.
//!
//! `FROSTBOX_TEST_HANG_AFTER_MS=<ms>` makes every heartbeat after `<ms>` milliseconds (counted
//! from the creation of the [`Liveness`](super::Liveness) registry) be dropped, exactly as if the
//! event loop and the node were wedged: heartbeats go stale, the watchdog stops sending
//! `WATCHDOG=1`, and systemd kills and restarts the service.
//!
//! **The variable is honoured only in builds with `debug_assertions`** (the `dev`/`test`
//! profiles). Release builds (`--release`, `debug-assertions = false`) compile this function to
//! `None`: setting the variable on a production binary does nothing, so it cannot be triggered
//! by accident. The systemd-nspawn CI test therefore uses the debug binary.

use std::time::Duration;

/// Name of the environment variable (debug builds only).
pub const HANG_ENV: &str = "FROSTBOX_TEST_HANG_AFTER_MS";

/// The configured hang delay, if the fault switch is compiled in and set.
pub fn hang_after() -> Option<Duration> {
    if cfg!(debug_assertions) {
        std::env::var(HANG_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
    } else {
        None
    }
}
