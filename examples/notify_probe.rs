//! Test probe for `crate::health` (used by `tests/notify.rs`): the same hooks `frostbox serve`
//! calls, without a store, node or network, so the notify/watchdog contract is testable on its
//! own.
//!
//! `notify_probe`        — start the watchdog, a simulated node heartbeat every 100 ms, send
//!                         READY, run until SIGTERM/SIGINT (then STOPPING=1, exit 0).
//! `notify_probe fail`   — a supervised task that always fails: the circuit breaker opens and
//!                         the process exits with `EXIT_CIRCUIT_OPEN`.
//!
//! The hang fault switch (`FROSTBOX_TEST_HANG_AFTER_MS`, debug builds only) applies as in serve.

use std::time::Duration;

use frostbox::health::{self, Liveness, SuperviseOptions, SupervisorStats};

fn main() {
    health::init_logging();
    let mode = std::env::args().nth(1).unwrap_or_default();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(async move {
        let live = Liveness::new();
        live.register("node", Duration::from_millis(500));
        let _wd = health::spawn_watchdog(live.clone());
        if mode == "fail" {
            let opts = SuperviseOptions {
                backoff_base: Duration::from_millis(5),
                backoff_max: Duration::from_millis(20),
                max_errors: 3,
                ..SuperviseOptions::default()
            };
            health::notify_ready("probe: supervising a failing task");
            let r = health::supervise(
                "node",
                opts,
                SupervisorStats::default(),
                Some(live),
                || async { Err::<(), _>("simulated node failure") },
            )
            .await;
            return match r {
                Ok(()) => 0,
                Err(e) => {
                    tracing::error!(error = %e, "giving up");
                    health::EXIT_CIRCUIT_OPEN
                }
            };
        }
        let node = live.clone();
        tokio::spawn(async move {
            loop {
                node.beat("node");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        health::notify_ready("probe: serving");
        health::shutdown_signal().await;
        0
    });
    std::process::exit(code);
}
