//! A small Prometheus registry any module can write to.
//!
//! ```text
//! use frostbox::api::metrics;
//! metrics::inc("frostbox_signs_total", &[("result", "ok")]);
//! metrics::set_gauge("frostbox_nonce_pool", &[("peer", "ab12")], 42.0);
//! metrics::observe("frostbox_sign_seconds", &[], 0.004);
//! ```
//! Names must be valid Prometheus metric names; label values are escaped. `/metrics` renders
//! everything plus `frostbox_uptime_seconds` and `frostbox_resident_memory_bytes`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

/// Histogram bucket bounds (seconds).
pub const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Hist {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    counters: BTreeMap<(String, String), u64>,
    gauges: BTreeMap<(String, String), f64>,
    hists: BTreeMap<(String, String), Hist>,
    help: BTreeMap<String, String>,
}

/// The registry. Use the free functions on the global one.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

fn labels(l: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in l.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(s, "{k}=\"{v}\"");
    }
    s
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn inc_by(&self, name: &str, l: &[(&str, &str)], n: u64) {
        *self
            .lock()
            .counters
            .entry((name.to_string(), labels(l)))
            .or_default() += n;
    }
    pub fn set_gauge(&self, name: &str, l: &[(&str, &str)], v: f64) {
        self.lock().gauges.insert((name.to_string(), labels(l)), v);
    }
    pub fn observe(&self, name: &str, l: &[(&str, &str)], secs: f64) {
        let mut g = self.lock();
        let h = g.hists.entry((name.to_string(), labels(l))).or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }
    pub fn describe(&self, name: &str, help: &str) {
        self.lock().help.insert(name.to_string(), help.to_string());
    }
    /// A counter's current value (tests, status).
    pub fn counter(&self, name: &str, l: &[(&str, &str)]) -> u64 {
        self.lock()
            .counters
            .get(&(name.to_string(), labels(l)))
            .copied()
            .unwrap_or(0)
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let g = self.lock();
        let mut out = String::new();
        let mut typed = std::collections::BTreeSet::new();
        let mut head = |out: &mut String, name: &str, kind: &str| {
            if typed.insert(name.to_string()) {
                if let Some(h) = g.help.get(name) {
                    let _ = writeln!(out, "# HELP {name} {h}");
                }
                let _ = writeln!(out, "# TYPE {name} {kind}");
            }
        };
        let series = |name: &str, l: &str, extra: &str| -> String {
            match (l.is_empty(), extra.is_empty()) {
                (true, true) => name.to_string(),
                (false, true) => format!("{name}{{{l}}}"),
                (true, false) => format!("{name}{{{extra}}}"),
                (false, false) => format!("{name}{{{l},{extra}}}"),
            }
        };
        for ((n, l), v) in &g.counters {
            head(&mut out, n, "counter");
            let _ = writeln!(out, "{} {v}", series(n, l, ""));
        }
        for ((n, l), v) in &g.gauges {
            head(&mut out, n, "gauge");
            let _ = writeln!(out, "{} {v}", series(n, l, ""));
        }
        for ((n, l), h) in &g.hists {
            head(&mut out, n, "histogram");
            for (i, b) in BUCKETS.iter().enumerate() {
                let le = format!("le=\"{b}\"");
                let _ = writeln!(
                    out,
                    "{} {}",
                    series(&format!("{n}_bucket"), l, &le),
                    h.counts.get(i).copied().unwrap_or(0)
                );
            }
            let _ = writeln!(
                out,
                "{} {}",
                series(&format!("{n}_bucket"), l, "le=\"+Inf\""),
                h.count
            );
            let _ = writeln!(out, "{} {}", series(&format!("{n}_sum"), l, ""), h.sum);
            let _ = writeln!(out, "{} {}", series(&format!("{n}_count"), l, ""), h.count);
        }
        out
    }
}

/// The process-wide registry.
pub fn global() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::default)
}

pub fn inc(name: &str, l: &[(&str, &str)]) {
    global().inc_by(name, l, 1);
}
pub fn inc_by(name: &str, l: &[(&str, &str)], n: u64) {
    global().inc_by(name, l, n);
}
pub fn set_gauge(name: &str, l: &[(&str, &str)], v: f64) {
    global().set_gauge(name, l, v);
}
pub fn observe(name: &str, l: &[(&str, &str)], secs: f64) {
    global().observe(name, l, secs);
}

/// Resident set size in bytes (Linux `/proc/self/statm`), 0 elsewhere.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let r = Registry::default();
        r.describe("x_total", "things");
        r.inc_by("x_total", &[("a", "q\"b")], 2);
        r.set_gauge("g", &[], 1.5);
        r.observe("h_seconds", &[("route", "sign")], 0.003);
        let s = r.render();
        assert!(s.contains("# HELP x_total things"), "{s}");
        assert!(s.contains("# TYPE x_total counter"));
        assert!(s.contains("x_total{a=\"q\\\"b\"} 2"));
        assert!(s.contains("g 1.5"));
        assert!(s.contains("h_seconds_bucket{route=\"sign\",le=\"0.0025\"} 0"));
        assert!(s.contains("h_seconds_bucket{route=\"sign\",le=\"0.005\"} 1"));
        assert!(s.contains("h_seconds_count{route=\"sign\"} 1"));
        assert_eq!(r.counter("x_total", &[("a", "q\"b")]), 2);
    }
}
