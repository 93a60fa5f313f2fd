//! Health: systemd notify + watchdog driven by real liveness, logging, supervisor and
//! error circuit breaker, and the test-only fault switch.
//!
//! Life of a server process (what `frostbox serve` calls, in order):
//!
//! ```text
//! init_logging();                              // once, first thing
//! let live = Liveness::new();                  // heartbeat registry, cheap to clone
//! live.register("node", Duration::from_secs(30));  // required components and their max age
//! let _wd = spawn_watchdog(live.clone());      // inside the tokio runtime
//! ... open store, bind API + relay, start node (its supervisor calls live.beat("node")) ...
//! notify_ready("serving on 0.0.0.0:8002, node waiting for configuration");
//! shutdown_signal().await;                     // SIGTERM/SIGINT → sends STOPPING=1
//! ... graceful shutdown within 5 s ...
//! ```
//!
//! Every notify call is a no-op when `NOTIFY_SOCKET` is unset (Docker, Umbrel, StartOS, a
//! shell), so the same binary runs everywhere.

pub mod fault;
pub mod liveness;
pub mod logging;
pub mod notify;
pub mod supervisor;

pub use liveness::{ComponentHealth, Liveness};
pub use logging::init_logging;
pub use notify::{
    notify_ready, notify_status, notify_stopping, shutdown_signal, spawn_watchdog, watchdog_period,
};
pub use supervisor::{
    Backoff, CircuitBreaker, EXIT_CIRCUIT_OPEN, SuperviseOptions, SupervisorError, SupervisorStats,
    supervise,
};
