//! Per-client permissions: allowed / denied methods and event kinds.
//!
//! JSON shape is igloo-server compatible: `{"methods":{"sign_event":true},"kinds":{"1":true,"*":false}}`.
//! `true` allows, `false` is a persistent deny rule (igloo-server could only delete entries).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Methods every approved client may call without an explicit grant.
pub const IMPLICIT_METHODS: &[&str] = &[
    "connect",
    "ping",
    "get_public_key",
    "get_relays",
    "switch_relays",
    "logout",
];

/// Methods that touch the identity key and need a grant.
pub const GATED_METHODS: &[&str] = &[
    "sign_event",
    "nip04_encrypt",
    "nip04_decrypt",
    "nip44_encrypt",
    "nip44_decrypt",
];

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    #[serde(default)]
    pub methods: BTreeMap<String, bool>,
    #[serde(default)]
    pub kinds: BTreeMap<String, bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    Ask,
}

impl Policy {
    /// Parses a NIP-46 `perms` list (`sign_event:1,nip44_encrypt,...`). Unknown methods are kept
    /// out; the returned list of rejected entries lets the caller report them.
    pub fn from_perms(perms: &str) -> (Policy, Vec<String>) {
        let mut p = Policy::default();
        let mut rejected = Vec::new();
        for item in perms.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (method, arg) = match item.split_once(':') {
                Some((m, a)) => (m.trim(), Some(a.trim())),
                None => (item, None),
            };
            if !GATED_METHODS.contains(&method) && !IMPLICIT_METHODS.contains(&method) {
                rejected.push(item.to_string());
                continue;
            }
            match (method, arg) {
                ("sign_event", Some(k)) => match k.parse::<u16>() {
                    Ok(k) => {
                        p.methods.insert("sign_event".into(), true);
                        p.kinds.insert(k.to_string(), true);
                    }
                    Err(_) => rejected.push(item.to_string()),
                },
                ("sign_event", None) => {
                    p.methods.insert("sign_event".into(), true);
                    p.kinds.insert("*".into(), true);
                }
                (m, _) => {
                    if GATED_METHODS.contains(&m) {
                        p.methods.insert(m.to_string(), true);
                    }
                }
            }
        }
        (p, rejected)
    }

    /// The grant as a NIP-46 `perms` string.
    pub fn to_perms(&self) -> String {
        let mut out = Vec::new();
        for (m, allowed) in &self.methods {
            if !allowed {
                continue;
            }
            if m == "sign_event" {
                for (k, ok) in &self.kinds {
                    if *ok {
                        if k == "*" {
                            out.push("sign_event".to_string());
                        } else {
                            out.push(format!("sign_event:{k}"));
                        }
                    }
                }
            } else {
                out.push(m.clone());
            }
        }
        out.join(",")
    }

    /// Merges `other` into self: each entry in `other` overrides.
    pub fn merge(&mut self, other: &Policy) {
        for (k, v) in &other.methods {
            self.methods.insert(k.clone(), *v);
        }
        for (k, v) in &other.kinds {
            self.kinds.insert(k.clone(), *v);
        }
    }

    /// Drops entries that do not name a known method or a kind (`*` or 0..=65535).
    pub fn validate(&self) -> Result<(), String> {
        for m in self.methods.keys() {
            if !GATED_METHODS.contains(&m.as_str()) && !IMPLICIT_METHODS.contains(&m.as_str()) {
                return Err(format!("unknown method in policy: {m}"));
            }
        }
        for k in self.kinds.keys() {
            if k != "*" && k.parse::<u16>().is_err() {
                return Err(format!("invalid kind in policy: {k}"));
            }
        }
        Ok(())
    }

    pub fn decide(&self, method: &str, kind: Option<u16>) -> Decision {
        if IMPLICIT_METHODS.contains(&method) {
            return Decision::Allow;
        }
        match self.methods.get(method) {
            Some(false) => return Decision::Deny,
            Some(true) => {}
            None => return Decision::Ask,
        }
        if method != "sign_event" {
            return Decision::Allow;
        }
        let Some(kind) = kind else {
            return Decision::Deny;
        };
        match (self.kinds.get(&kind.to_string()), self.kinds.get("*")) {
            (Some(false), _) => Decision::Deny,
            (Some(true), _) => Decision::Allow,
            (None, Some(true)) => Decision::Allow,
            (None, Some(false)) => Decision::Deny,
            (None, None) => Decision::Ask,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms_parse_and_decide() {
        let (p, rej) = Policy::from_perms("sign_event:1, nip44_encrypt,bogus,sign_event:x");
        assert_eq!(rej, vec!["bogus".to_string(), "sign_event:x".to_string()]);
        assert_eq!(p.decide("sign_event", Some(1)), Decision::Allow);
        assert_eq!(p.decide("sign_event", Some(4)), Decision::Ask);
        assert_eq!(p.decide("nip44_encrypt", None), Decision::Allow);
        assert_eq!(p.decide("nip44_decrypt", None), Decision::Ask);
        assert_eq!(p.decide("ping", None), Decision::Allow);
        assert_eq!(p.to_perms(), "nip44_encrypt,sign_event:1");
    }

    #[test]
    fn deny_rules_win() {
        let mut p = Policy::from_perms("sign_event").0;
        assert_eq!(p.decide("sign_event", Some(30023)), Decision::Allow);
        p.kinds.insert("4".into(), false);
        assert_eq!(p.decide("sign_event", Some(4)), Decision::Deny);
        assert_eq!(p.decide("sign_event", Some(1)), Decision::Allow);
        p.methods.insert("nip04_decrypt".into(), false);
        assert_eq!(p.decide("nip04_decrypt", None), Decision::Deny);
        p.methods.insert("sign_event".into(), false);
        assert_eq!(p.decide("sign_event", Some(1)), Decision::Deny);
        assert!(p.validate().is_ok());
        p.kinds.insert("x".into(), true);
        assert!(p.validate().is_err());
    }
}
