//! Per-IP, per-route-class token buckets and login backoff.
//!
//! Classes are sized so the web UI cannot lock itself out: reads (status polling, peers, the
//! event socket) get a large bucket that refills faster than any UI polls; only *failed*
//! authentications consume the `AuthFail` bucket, so a valid session never trips it
//! (igloo-server charged every request, W12).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// GET on API routes.
    Read,
    /// Authenticated writes (admin, policies, keyset).
    Write,
    /// `/api/sign`, `/api/nip44/*`, `/api/nip04/*`, ping.
    Sign,
    /// Failed authentication attempts (bad password, key, secret).
    AuthFail,
    /// `/api/recover*`.
    Recovery,
    /// `POST /api/env*`.
    EnvWrite,
    /// WebSocket upgrades on `/api/events`.
    WsUpgrade,
}

#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub capacity: f64,
    pub per_sec: f64,
}

#[derive(Clone, Debug)]
pub struct Rules {
    pub read: Rule,
    pub write: Rule,
    pub sign: Rule,
    pub auth_fail: Rule,
    pub recovery: Rule,
    pub env_write: Rule,
    pub ws_upgrade: Rule,
}

impl Rules {
    /// Defaults; `sign_max` per `window_secs` for the sign class (`RATE_LIMIT_MAX`/`_WINDOW`).
    pub fn new(sign_max: u32, window_secs: u64) -> Rules {
        let w = window_secs.max(1) as f64;
        Rules {
            read: Rule {
                capacity: 300.0,
                per_sec: 10.0,
            },
            write: Rule {
                capacity: 120.0,
                per_sec: 2.0,
            },
            sign: Rule {
                capacity: f64::from(sign_max),
                per_sec: f64::from(sign_max) / w,
            },
            auth_fail: Rule {
                capacity: 20.0,
                per_sec: 1.0 / 30.0,
            },
            recovery: Rule {
                capacity: 10.0,
                per_sec: 1.0 / 90.0,
            },
            env_write: Rule {
                capacity: 30.0,
                per_sec: 1.0 / 30.0,
            },
            ws_upgrade: Rule {
                capacity: 30.0,
                per_sec: 1.0 / 10.0,
            },
        }
    }
    fn get(&self, c: Class) -> Rule {
        match c {
            Class::Read => self.read,
            Class::Write => self.write,
            Class::Sign => self.sign,
            Class::AuthFail => self.auth_fail,
            Class::Recovery => self.recovery,
            Class::EnvWrite => self.env_write,
            Class::WsUpgrade => self.ws_upgrade,
        }
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limiter. Memory is bounded: at most `MAX_KEYS` buckets; full buckets are dropped first.
pub struct Limiter {
    enabled: bool,
    rules: Rules,
    buckets: Mutex<HashMap<(IpAddr, Class), Bucket>>,
}

const MAX_KEYS: usize = 20_000;

impl Limiter {
    pub fn new(enabled: bool, rules: Rules) -> Limiter {
        Limiter {
            enabled,
            rules,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill(b: &mut Bucket, r: Rule, now: Instant) {
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * r.per_sec).min(r.capacity);
        b.at = now;
    }

    /// Takes one token; `Err(retry_after)` when empty.
    pub fn check(&self, ip: IpAddr, c: Class) -> Result<(), Duration> {
        self.check_at(ip, c, Instant::now())
    }

    pub fn check_at(&self, ip: IpAddr, c: Class, now: Instant) -> Result<(), Duration> {
        if !self.enabled {
            return Ok(());
        }
        let r = self.rules.get(c);
        let mut m = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_KEYS && !m.contains_key(&(ip, c)) {
            let rules = self.rules.clone();
            m.retain(|(_, cls), b| {
                let mut b2 = *b;
                Self::refill(&mut b2, rules.get(*cls), now);
                b2.tokens < rules.get(*cls).capacity
            });
            if m.len() >= MAX_KEYS {
                m.clear();
            }
        }
        let b = m.entry((ip, c)).or_insert(Bucket {
            tokens: r.capacity,
            at: now,
        });
        Self::refill(b, r, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = if r.per_sec > 0.0 {
                (1.0 - b.tokens) / r.per_sec
            } else {
                3600.0
            };
            Err(Duration::from_secs_f64(wait.clamp(1.0, 86_400.0)))
        }
    }

    /// Whether a bucket is currently empty, without taking a token.
    pub fn is_exhausted(&self, ip: IpAddr, c: Class) -> Option<Duration> {
        if !self.enabled {
            return None;
        }
        let r = self.rules.get(c);
        let now = Instant::now();
        let mut m = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = m.get_mut(&(ip, c))?;
        Self::refill(b, r, now);
        if b.tokens < 1.0 {
            Some(Duration::from_secs_f64(
                ((1.0 - b.tokens) / r.per_sec.max(1e-9)).clamp(1.0, 86_400.0),
            ))
        } else {
            None
        }
    }
}

/// Per-username login backoff: after 5 consecutive failures each further attempt waits
/// 2^(n-5) s (capped at 15 min). A success resets it.
#[derive(Default)]
pub struct LoginBackoff {
    m: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginBackoff {
    pub const FREE_FAILURES: u32 = 5;

    /// `Err(retry_after)` while the account is in backoff.
    pub fn check(&self, user: &str) -> Result<(), Duration> {
        let m = self.m.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((n, until)) = m.get(user) {
            let now = Instant::now();
            if *n >= Self::FREE_FAILURES && *until > now {
                return Err((*until - now).max(Duration::from_secs(1)));
            }
        }
        Ok(())
    }
    pub fn failed(&self, user: &str) {
        let mut m = self.m.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 10_000 {
            m.clear();
        }
        let e = m.entry(user.to_string()).or_insert((0, Instant::now()));
        e.0 += 1;
        if e.0 >= Self::FREE_FAILURES {
            let secs = 1u64 << (e.0 - Self::FREE_FAILURES).min(10);
            e.1 = Instant::now() + Duration::from_secs(secs.min(900));
        }
    }
    pub fn succeeded(&self, user: &str) {
        self.m
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn two_tabs_polling_for_an_hour_never_trip() {
        let l = Limiter::new(true, Rules::new(600, 900));
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        // Two tabs: /api/status every 2 s each, /api/peers every 5 s each, one events socket
        // reconnect per minute, plus a page reload burst of 20 GETs every 5 minutes.
        for s in 0..3600u64 {
            let now = t0 + Duration::from_secs(s);
            let mut n = 1; // two tabs x every 2 s = 1/s
            if s % 5 == 0 {
                n += 2;
            }
            if s % 300 == 0 {
                n += 20;
            }
            for _ in 0..n {
                assert!(l.check_at(ip, Class::Read, now).is_ok(), "tripped at {s}s");
            }
            if s % 60 == 0 {
                assert!(l.check_at(ip, Class::WsUpgrade, now).is_ok());
            }
        }
    }

    #[test]
    fn buckets_empty_and_refill() {
        let l = Limiter::new(true, Rules::new(3, 3));
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check_at(ip, Class::Sign, t0).is_ok());
        }
        assert!(l.check_at(ip, Class::Sign, t0).is_err());
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        assert!(l.check_at(other, Class::Sign, t0).is_ok(), "per IP");
        assert!(
            l.check_at(ip, Class::Sign, t0 + Duration::from_secs(1))
                .is_ok()
        );
        let off = Limiter::new(false, Rules::new(1, 1));
        for _ in 0..10 {
            assert!(off.check_at(ip, Class::Sign, t0).is_ok());
        }
    }

    #[test]
    fn login_backoff_after_five_failures() {
        let b = LoginBackoff::default();
        for _ in 0..4 {
            b.failed("alice");
            assert!(b.check("alice").is_ok());
        }
        b.failed("alice");
        assert!(b.check("alice").is_err());
        assert!(b.check("bob").is_ok());
        b.succeeded("alice");
        assert!(b.check("alice").is_ok());
    }
}
