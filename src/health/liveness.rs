//! Heartbeat registry. Components (the event loop, the node supervisor, ...) call
//! [`Liveness::beat`]; the watchdog pings systemd only while every required component's last
//! heartbeat is younger than its maximum age.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Maximum heartbeat age for components that beat without being registered first.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
struct Component {
    last: Instant,
    max_age: Duration,
    beats: u64,
}

#[derive(Debug)]
struct Inner {
    created: Instant,
    /// Fault switch (debug builds only): beats after this instant are dropped.
    hang_at: Option<Instant>,
    components: Mutex<BTreeMap<String, Component>>,
}

/// A cheap-to-clone registry of component heartbeats.
#[derive(Debug, Clone)]
pub struct Liveness {
    inner: Arc<Inner>,
}

/// One component's state, for `/api/status`, `/ready` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentHealth {
    pub name: String,
    /// Milliseconds since the last heartbeat.
    pub age_ms: u64,
    pub max_age_ms: u64,
    pub fresh: bool,
    pub beats: u64,
}

impl Default for Liveness {
    fn default() -> Self {
        Self::new()
    }
}

impl Liveness {
    /// An empty registry. Honours the test fault switch ([`super::fault`]) in debug builds.
    pub fn new() -> Liveness {
        let created = Instant::now();
        let hang_at = super::fault::hang_after().map(|d| created + d);
        if let Some(at) = hang_at {
            tracing::warn!(
                after_ms = at.duration_since(created).as_millis() as u64,
                "test fault switch set: heartbeats will stop (debug build only)"
            );
        }
        Liveness {
            inner: Arc::new(Inner {
                created,
                hang_at,
                components: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Component>> {
        // A poisoned lock only means another thread panicked mid-update of a timestamp; the
        // map is still usable.
        self.inner
            .components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn hung(&self, now: Instant) -> bool {
        self.inner.hang_at.is_some_and(|at| now >= at)
    }

    /// Registers a required component with its maximum heartbeat age and counts now as its
    /// first heartbeat. Registering again changes the maximum age.
    pub fn register(&self, component: &str, max_age: Duration) {
        let now = Instant::now();
        let mut map = self.lock();
        let c = map.entry(component.to_owned()).or_insert(Component {
            last: now,
            max_age,
            beats: 0,
        });
        c.max_age = max_age;
    }

    /// Records a heartbeat. Unknown components are registered with [`DEFAULT_MAX_AGE`].
    pub fn beat(&self, component: &str) {
        let now = Instant::now();
        if self.hung(now) {
            return;
        }
        let mut map = self.lock();
        match map.get_mut(component) {
            Some(c) => {
                c.last = now;
                c.beats += 1;
            }
            None => {
                map.insert(
                    component.to_owned(),
                    Component {
                        last: now,
                        max_age: DEFAULT_MAX_AGE,
                        beats: 1,
                    },
                );
            }
        }
    }

    /// Removes a component (for example a task that ended cleanly and is no longer required).
    pub fn unregister(&self, component: &str) {
        self.lock().remove(component);
    }

    /// True when every registered component beat within its maximum age. An empty registry is
    /// fresh (nothing is required yet).
    pub fn is_fresh(&self) -> bool {
        let now = Instant::now();
        self.lock()
            .values()
            .all(|c| now.saturating_duration_since(c.last) <= c.max_age)
    }

    /// Names of the components whose heartbeat is too old.
    pub fn stale(&self) -> Vec<String> {
        let now = Instant::now();
        self.lock()
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.last) > c.max_age)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Every component's state, sorted by name.
    pub fn snapshot(&self) -> Vec<ComponentHealth> {
        let now = Instant::now();
        self.lock()
            .iter()
            .map(|(name, c)| {
                let age = now.saturating_duration_since(c.last);
                ComponentHealth {
                    name: name.clone(),
                    age_ms: age.as_millis() as u64,
                    max_age_ms: c.max_age.as_millis() as u64,
                    fresh: age <= c.max_age,
                    beats: c.beats,
                }
            })
            .collect()
    }

    /// Time since this registry was created (process uptime, for `/metrics`).
    pub fn uptime(&self) -> Duration {
        self.inner.created.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_fresh_and_stale_component_is_reported() {
        let l = Liveness::new();
        assert!(l.is_fresh());
        l.register("node", Duration::from_millis(30));
        l.beat("event-loop");
        assert!(l.is_fresh());
        std::thread::sleep(Duration::from_millis(60));
        assert!(!l.is_fresh());
        assert_eq!(l.stale(), vec!["node".to_owned()]);
        l.beat("node");
        assert!(l.is_fresh());
        let snap = l.snapshot();
        assert_eq!(snap.len(), 2);
        assert_eq!(snap[1].name, "node");
        assert!(snap[1].fresh);
        assert_eq!(snap[1].beats, 1);
        assert_eq!(snap[1].max_age_ms, 30);
    }

    #[test]
    fn unregister_removes_requirement() {
        let l = Liveness::new();
        l.register("task", Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(10));
        assert!(!l.is_fresh());
        l.unregister("task");
        assert!(l.is_fresh());
    }

    #[test]
    fn clones_share_state() {
        let a = Liveness::new();
        let b = a.clone();
        b.register("x", Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(10));
        assert!(!a.is_fresh());
    }
}
