//! systemd notify protocol (`sd-notify`): READY, STATUS, STOPPING, and the liveness-driven
//! watchdog. All of it is a no-op when `NOTIFY_SOCKET` is unset.

use std::time::Duration;

use sd_notify::NotifyState;

use super::Liveness;

/// Heartbeat name of the event-loop ticker started by [`spawn_watchdog`].
pub const EVENT_LOOP: &str = "event-loop";

/// `STATUS=` must stay one line: a newline would start another notify assignment.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// Tells the service manager we are ready (`READY=1` plus a human `STATUS=`).
pub fn notify_ready(status: &str) {
    let s = one_line(status);
    tracing::info!(status = %s, "ready");
    send(&[NotifyState::Ready, NotifyState::Status(&s)]);
}

/// A human-readable `STATUS=` line for `systemctl status`.
pub fn notify_status(status: &str) {
    let s = one_line(status);
    send(&[NotifyState::Status(&s)]);
}

/// `STOPPING=1`, sent when a graceful shutdown begins.
pub fn notify_stopping() {
    tracing::info!("stopping");
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// The watchdog period systemd asked for (`WATCHDOG_USEC`, honoured only when `WATCHDOG_PID`
/// is unset or ours). `None` when the watchdog is off.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|d| !d.is_zero())
}

/// Waits for SIGTERM or SIGINT, then sends `STOPPING=1`. The caller then shuts down
/// gracefully (close listeners, flush the store) within 5 s.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
    notify_stopping();
}

/// Starts the event-loop heartbeat and, when systemd enabled a watchdog, the pinger:
/// `WATCHDOG=1` every half `WATCHDOG_USEC`, sent only while `liveness.is_fresh()`. When a
/// required heartbeat goes stale the pings stop (and `STATUS=` names the stale components),
/// so systemd kills and restarts the wedged process. Must be called inside a tokio runtime.
///
/// The event-loop ticker registers [`EVENT_LOOP`] as a required component: if the runtime
/// stops scheduling tasks, its heartbeat goes stale too.
pub fn spawn_watchdog(liveness: Liveness) -> tokio::task::JoinHandle<()> {
    let period = watchdog_period();
    let ping_every = period.map(|p| p / 2);
    // The ticker beats at least twice per ping interval (and at least once a second), and is
    // stale after four missed ticks.
    let tick = ping_every
        .map(|p| (p / 2).min(Duration::from_secs(1)))
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(10));
    liveness.register(EVENT_LOOP, tick * 4);
    match ping_every {
        Some(p) => tracing::info!(
            period_ms = period.map(|d| d.as_millis() as u64).unwrap_or(0),
            ping_ms = p.as_millis() as u64,
            "watchdog enabled"
        ),
        None => tracing::info!("watchdog disabled (no WATCHDOG_USEC)"),
    }
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_ping = tokio::time::Instant::now();
        let mut was_fresh = true;
        loop {
            ticker.tick().await;
            liveness.beat(EVENT_LOOP);
            let Some(p) = ping_every else { continue };
            let now = tokio::time::Instant::now();
            if now < next_ping {
                continue;
            }
            next_ping = now + p;
            if liveness.is_fresh() {
                if !was_fresh {
                    tracing::info!("all heartbeats fresh again; watchdog pings resumed");
                    notify_status("serving");
                }
                was_fresh = true;
                send(&[NotifyState::Watchdog]);
            } else if was_fresh {
                was_fresh = false;
                let stale = liveness.stale().join(", ");
                tracing::error!(components = %stale, "heartbeat stale; withholding watchdog pings");
                notify_status(&format!("unhealthy: stale heartbeat: {stale}"));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn status_is_one_line() {
        assert_eq!(one_line("a\nREADY=1\r\tb"), "a READY=1  b");
    }
}
