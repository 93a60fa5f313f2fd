//! Health: supervisor, systemd notify/watchdog, logging, metrics.
//!
//! The server calls these hooks at fixed points of its life; the appliance work fills them in.

/// Installs the global tracing subscriber (journald / stderr / JSON). Call once at start.
pub fn init_logging() {}

/// Tells the service manager we are ready (`READY=1` plus a human `STATUS=`).
pub fn notify_ready(_status: &str) {}

/// A human-readable `STATUS=` line for `systemctl status`.
pub fn notify_status(_status: &str) {}

/// `STOPPING=1`, sent when a graceful shutdown begins.
pub fn notify_stopping() {}
