//! Logging via `tracing`: journald when started by systemd with the journal on stderr
//! (`JOURNAL_STREAM` set), human-readable stderr otherwise, JSON lines with `LOG_FORMAT=json`.
//! Filter: `RUST_LOG` (full `EnvFilter` syntax) or else `LOG_LEVEL` (igloo-server's name:
//! `error|warn|info|debug|trace`), default `info`.
//!
//! Never log a secret or event content: secret types have redacted `Debug`, and call sites
//! log ids and sizes only.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    Journald,
    Json,
    Human,
}

/// Picks the target from the environment values (pure, for tests).
pub fn choose_target(journal_stream: Option<&str>, log_format: Option<&str>) -> LogTarget {
    let fmt = log_format.map(|s| s.trim().to_ascii_lowercase());
    match fmt.as_deref() {
        Some("json") => LogTarget::Json,
        Some("text") | Some("human") | Some("pretty") => LogTarget::Human,
        _ if journal_stream.is_some_and(|s| !s.is_empty()) => LogTarget::Journald,
        _ => LogTarget::Human,
    }
}

/// The filter directive from `RUST_LOG` / `LOG_LEVEL` (pure, for tests).
pub fn filter_directive(rust_log: Option<&str>, log_level: Option<&str>) -> String {
    if let Some(r) = rust_log.filter(|s| !s.trim().is_empty()) {
        return r.to_owned();
    }
    match log_level.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some(l @ ("error" | "warn" | "info" | "debug" | "trace" | "off")) => l.to_owned(),
        Some("warning") => "warn".to_owned(),
        _ => "info".to_owned(),
    }
}

/// Installs the global tracing subscriber (journald / stderr / JSON). Call once at start;
/// later calls are ignored.
pub fn init_logging() {
    let env = |k: &str| std::env::var(k).ok();
    let directive = filter_directive(env("RUST_LOG").as_deref(), env("LOG_LEVEL").as_deref());
    let (filter, bad_filter) = match EnvFilter::try_new(&directive) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("info"), Some(e.to_string())),
    };
    let mut target = choose_target(
        env("JOURNAL_STREAM").as_deref(),
        env("LOG_FORMAT").as_deref(),
    );
    let mut journald_err = None;
    let layer: Box<dyn Layer<Registry> + Send + Sync> = loop {
        match target {
            LogTarget::Journald => match tracing_journald::layer() {
                Ok(l) => break Box::new(l.with_syslog_identifier("frostbox".to_owned())),
                Err(e) => {
                    journald_err = Some(e.to_string());
                    target = LogTarget::Human;
                }
            },
            LogTarget::Json => {
                break Box::new(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_writer(std::io::stderr),
                );
            }
            LogTarget::Human => {
                break Box::new(
                    tracing_subscriber::fmt::layer()
                        .with_writer(std::io::stderr)
                        .with_ansi(false),
                );
            }
        }
    };
    if tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init()
        .is_ok()
    {
        if let Some(e) = bad_filter {
            tracing::warn!(error = %e, "invalid RUST_LOG/LOG_LEVEL; using info");
        }
        if let Some(e) = journald_err {
            tracing::warn!(error = %e, "journald unavailable; logging to stderr");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_choice() {
        assert_eq!(choose_target(None, None), LogTarget::Human);
        assert_eq!(choose_target(Some("8:1234"), None), LogTarget::Journald);
        assert_eq!(choose_target(Some(""), None), LogTarget::Human);
        assert_eq!(choose_target(Some("8:1234"), Some("JSON")), LogTarget::Json);
        assert_eq!(choose_target(None, Some("json")), LogTarget::Json);
        assert_eq!(choose_target(Some("8:1"), Some("text")), LogTarget::Human);
    }

    #[test]
    fn filter_precedence() {
        assert_eq!(filter_directive(None, None), "info");
        assert_eq!(filter_directive(None, Some("DEBUG")), "debug");
        assert_eq!(filter_directive(None, Some("warning")), "warn");
        assert_eq!(filter_directive(None, Some("loud")), "info");
        assert_eq!(
            filter_directive(Some("frostbox=trace"), Some("error")),
            "frostbox=trace"
        );
        assert_eq!(filter_directive(Some(" "), Some("error")), "error");
    }
}
