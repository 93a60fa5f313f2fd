//! Configuration: environment (igloo-server names), flags and defaults.
//!
//! Every setting is read through one lookup function so tests can feed a map instead of the
//! process environment. Secrets (`ADMIN_SECRET`, `API_KEY`, `GROUP_CRED`, `SHARE_CRED`) are kept
//! in [`SecretString`] and never printed.

use crate::vault::SecretString;
use std::path::PathBuf;

/// Errors in configuration values; the message names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// How the share is protected at rest (see `vault::at_rest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VaultMode {
    /// Sealed under the user's password; after a reboot the node waits for an unlock.
    Locked,
    /// Sealed under a device key (0600 file or systemd credential); signs after reboot.
    Unattended,
}

/// Runtime configuration of `frostbox serve`.
#[derive(Debug)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,
    /// Relay URLs exactly as given (never rewritten, localhost kept).
    pub relays: Vec<String>,
    pub admin_secret: Option<SecretString>,
    pub api_key: Option<SecretString>,
    /// `METRICS_TOKEN`: a read-only bearer token for `/metrics` and `/ready` that shows the
    /// per-keyset detail (for a Prometheus scraper); it grants nothing else.
    pub metrics_token: Option<SecretString>,
    pub headless: bool,
    pub group_cred: Option<SecretString>,
    pub share_cred: Option<SecretString>,
    pub group_name: Option<String>,
    /// Raw `PEER_POLICIES` JSON.
    pub peer_policies: Option<String>,
    /// `PEER_POLICIES` parsed ([`parse_peer_policies`]): seeds the live node's policies;
    /// policies stored through the API take precedence.
    pub peer_policy_seeds: Vec<PeerPolicySeed>,
    /// `ALLOWED_ORIGINS`: exact origins, `*`, or `@self` (same host as the request).
    pub allowed_origins: Vec<String>,
    pub trust_proxy: bool,
    /// `SESSION_TIMEOUT`, seconds.
    pub session_timeout: u64,
    pub rate_limit_enabled: bool,
    /// `RATE_LIMIT_WINDOW` seconds and `RATE_LIMIT_MAX` requests for the sign/crypto classes.
    pub rate_limit_window: u64,
    pub rate_limit_max: u32,
    /// `FROSTR_SIGN_TIMEOUT` / `SIGN_TIMEOUT_MS`, milliseconds (1000–120000).
    pub sign_timeout_ms: u64,
    /// Mark cookies `Secure` and send HSTS (`FROSTBOX_SECURE_COOKIES=true`, or TLS in front).
    pub secure_cookies: bool,
    pub vault_mode: VaultMode,
    /// The embedded relay's access policy and limits (`RELAY_*`, see [`parse_relay_env`]).
    pub relay: crate::relay::RelayConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 8002,
            data_dir: PathBuf::from("./data"),
            relays: vec![],
            admin_secret: None,
            api_key: None,
            metrics_token: None,
            headless: false,
            group_cred: None,
            share_cred: None,
            group_name: None,
            peer_policies: None,
            peer_policy_seeds: vec![],
            allowed_origins: vec!["@self".into()],
            trust_proxy: false,
            session_timeout: 3600,
            rate_limit_enabled: true,
            rate_limit_window: 900,
            rate_limit_max: 600,
            sign_timeout_ms: 30_000,
            secure_cookies: false,
            vault_mode: VaultMode::Unattended,
            relay: crate::relay::RelayConfig::default(),
        }
    }
}

/// The environment variables Frostbox reads (documented in README "Configuration").
pub const ENV_VARS: &[&str] = &[
    "HOST_NAME",
    "HOST_PORT",
    "FROSTBOX_DATA",
    "RELAYS",
    "ADMIN_SECRET",
    "API_KEY",
    "HEADLESS",
    "GROUP_CRED",
    "SHARE_CRED",
    "GROUP_NAME",
    "PEER_POLICIES",
    "ALLOWED_ORIGINS",
    "TRUST_PROXY",
    "SESSION_TIMEOUT",
    "RATE_LIMIT_ENABLED",
    "RATE_LIMIT_WINDOW",
    "RATE_LIMIT_MAX",
    "FROSTR_SIGN_TIMEOUT",
    "SIGN_TIMEOUT_MS",
    "FROSTBOX_SECURE_COOKIES",
    "FROSTBOX_VAULT_MODE",
    "RELAY_OPEN",
    "RELAY_ALLOWLIST",
    "RELAY_MAX_FRAME_BYTES",
    "RELAY_MAX_EVENT_BYTES",
    "RELAY_MAX_EVENT_TAGS",
    "RELAY_MAX_SUBS_PER_CONN",
    "RELAY_MAX_FILTERS_PER_REQ",
    "RELAY_MAX_SUB_ID_LEN",
    "RELAY_MAX_LIMIT",
    "RELAY_MAX_CONNS",
    "RELAY_MAX_CONNS_PER_IP",
    "RELAY_RATE_PER_SEC",
    "RELAY_RATE_BURST",
    "RELAY_MAX_STORED_EVENTS",
    "RELAY_MAX_STORED_BYTES",
    "RELAY_TTL_SECS",
    "RELAY_OUTBOUND_QUEUE",
];

/// `true`/`1`/`yes`/`on` (any case) → true; `false`/`0`/`no`/`off`/empty → false.
pub fn parse_bool(var: &'static str, v: &str) -> Result<bool, Error> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(Error::Invalid {
            var,
            reason: format!("expected true/false, got {v:?}"),
        }),
    }
}

/// The embedded relay's settings (issue 3: restricted by default, `RELAY_OPEN=true` makes it
/// public; an operator allowlist; every limit configurable, defaults near strfry's).
pub fn parse_relay_env(
    get: &dyn Fn(&str) -> Option<String>,
    r: &mut crate::relay::RelayConfig,
) -> Result<(), Error> {
    if let Some(v) = get("RELAY_OPEN") {
        r.open = parse_bool("RELAY_OPEN", &v)?;
    }
    if let Some(v) = get("RELAY_ALLOWLIST") {
        r.allowlist = v
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| {
                crate::nostr::nip19::decode_pubkey(s).map_err(|e| Error::Invalid {
                    var: "RELAY_ALLOWLIST",
                    reason: format!("{s:?} is not an npub or 64-hex pubkey: {e}"),
                })
            })
            .collect::<Result<_, _>>()?;
    }
    let usize_var = |var: &'static str, lo: usize, hi: usize, field: &mut usize| {
        if let Some(v) = get(var) {
            *field = parse_num(var, &v, lo, hi)?;
        }
        Ok::<(), Error>(())
    };
    usize_var(
        "RELAY_MAX_FRAME_BYTES",
        1024,
        16 << 20,
        &mut r.max_frame_bytes,
    )?;
    usize_var(
        "RELAY_MAX_EVENT_BYTES",
        1024,
        16 << 20,
        &mut r.max_event_bytes,
    )?;
    usize_var("RELAY_MAX_EVENT_TAGS", 1, 100_000, &mut r.max_event_tags)?;
    usize_var(
        "RELAY_MAX_SUBS_PER_CONN",
        1,
        10_000,
        &mut r.max_subs_per_conn,
    )?;
    usize_var(
        "RELAY_MAX_FILTERS_PER_REQ",
        1,
        1_000,
        &mut r.max_filters_per_req,
    )?;
    usize_var("RELAY_MAX_SUB_ID_LEN", 1, 1_024, &mut r.max_sub_id_len)?;
    usize_var("RELAY_MAX_LIMIT", 1, 100_000, &mut r.max_limit)?;
    usize_var("RELAY_MAX_CONNS", 1, 1_000_000, &mut r.max_conns)?;
    usize_var(
        "RELAY_MAX_CONNS_PER_IP",
        1,
        1_000_000,
        &mut r.max_conns_per_ip,
    )?;
    usize_var(
        "RELAY_MAX_STORED_EVENTS",
        0,
        100_000_000,
        &mut r.max_stored_events,
    )?;
    usize_var(
        "RELAY_MAX_STORED_BYTES",
        0,
        usize::MAX,
        &mut r.max_stored_bytes,
    )?;
    usize_var("RELAY_OUTBOUND_QUEUE", 16, 1_000_000, &mut r.outbound_queue)?;
    if r.max_event_bytes > r.max_frame_bytes {
        return Err(Error::Invalid {
            var: "RELAY_MAX_EVENT_BYTES",
            reason: format!(
                "{} exceeds RELAY_MAX_FRAME_BYTES ({}): no event that size could arrive",
                r.max_event_bytes, r.max_frame_bytes
            ),
        });
    }
    if let Some(v) = get("RELAY_RATE_PER_SEC") {
        r.rate_per_sec = parse_num("RELAY_RATE_PER_SEC", &v, 0.1f64, 1_000_000.0)?;
    }
    if let Some(v) = get("RELAY_RATE_BURST") {
        r.rate_burst = parse_num("RELAY_RATE_BURST", &v, 1.0f64, 1_000_000.0)?;
    }
    if let Some(v) = get("RELAY_TTL_SECS") {
        r.ttl = std::time::Duration::from_secs(parse_num("RELAY_TTL_SECS", &v, 1u64, 7 * 86_400)?);
    }
    Ok(())
}

fn parse_num<T>(var: &'static str, v: &str, lo: T, hi: T) -> Result<T, Error>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let n: T = v.trim().parse().map_err(|_| Error::Invalid {
        var,
        reason: format!("expected a number, got {v:?}"),
    })?;
    if n < lo || n > hi {
        return Err(Error::Invalid {
            var,
            reason: format!("must be between {lo} and {hi}"),
        });
    }
    Ok(n)
}

/// One `PEER_POLICIES` entry (igloo-server's format): a peer and the directions set for it.
/// `allowSend: false` = never ask this peer to co-sign; `allowReceive: false` = refuse its
/// requests. An omitted direction is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerPolicySeed {
    /// x-only key of the peer.
    pub xonly: [u8; 32],
    /// The key as given (lowercase hex, 64 or 66 characters).
    pub pubkey: String,
    pub allow_send: Option<bool>,
    pub allow_receive: Option<bool>,
    pub label: Option<String>,
    pub note: Option<String>,
}

/// Parses `PEER_POLICIES`: a JSON array of `{pubkey, allowSend?, allowReceive?, label?, note?}`,
/// one such object, or an object keyed by pubkey (`{"<hex>": {allowSend?, allowReceive?}}`).
/// Pubkeys are 64 (x-only) or 66 (compressed) hex characters.
pub fn parse_peer_policies(v: &str) -> Result<Vec<PeerPolicySeed>, Error> {
    use serde_json::Value;
    let bad = |reason: String| Error::Invalid {
        var: "PEER_POLICIES",
        reason,
    };
    let json: Value = serde_json::from_str(v).map_err(|e| bad(format!("not JSON: {e}")))?;
    let entries: Vec<(Option<String>, Value)> = match json {
        Value::Array(a) => a.into_iter().map(|e| (None, e)).collect(),
        Value::Object(o) if o.contains_key("pubkey") => vec![(None, Value::Object(o))],
        Value::Object(o) => o.into_iter().map(|(k, e)| (Some(k), e)).collect(),
        _ => return Err(bad("expected a JSON array or object".into())),
    };
    let mut out: Vec<PeerPolicySeed> = Vec::with_capacity(entries.len());
    for (i, (key, e)) in entries.into_iter().enumerate() {
        let Value::Object(o) = e else {
            return Err(bad(format!("entry {i} is not an object")));
        };
        let pk = match (key, o.get("pubkey")) {
            (_, Some(Value::String(p))) => p.clone(),
            (Some(k), None) => k,
            _ => return Err(bad(format!("entry {i}: pubkey missing"))),
        };
        let pubkey = pk.trim().to_ascii_lowercase();
        let hex_part = match pubkey.len() {
            64 => Some(pubkey.as_str()),
            66 if pubkey.starts_with("02") || pubkey.starts_with("03") => Some(&pubkey[2..]),
            _ => None,
        };
        let mut xonly = [0u8; 32];
        if hex_part.is_none_or(|h| hex::decode_to_slice(h, &mut xonly).is_err()) {
            return Err(bad(format!(
                "entry {i}: pubkey must be 64 (x-only) or 66 (compressed) hex characters"
            )));
        }
        let flag = |name: &str| match o.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(bad(format!("entry {i}: {name} must be true or false"))),
        };
        let text = |name: &str| match o.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= 256 => Ok(Some(s.clone())),
            Some(_) => Err(bad(format!(
                "entry {i}: {name} must be a string of ≤ 256 characters"
            ))),
        };
        let seed = PeerPolicySeed {
            xonly,
            allow_send: flag("allowSend")?,
            allow_receive: flag("allowReceive")?,
            label: text("label")?,
            note: text("note")?,
            pubkey,
        };
        if out.iter().any(|s| s.xonly == seed.xonly) {
            return Err(bad(format!("entry {i}: peer listed twice")));
        }
        out.push(seed);
    }
    Ok(out)
}

/// Parses `RELAYS`: a JSON array of strings or a comma/space separated list. Every entry must be
/// a `ws://` or `wss://` URL; entries are kept verbatim (igloo-server rewrote/dropped some).
pub fn parse_relays(v: &str) -> Result<Vec<String>, Error> {
    let v = v.trim();
    let items: Vec<String> = if v.starts_with('[') {
        serde_json::from_str::<Vec<String>>(v).map_err(|e| Error::Invalid {
            var: "RELAYS",
            reason: format!("not a JSON array of strings: {e}"),
        })?
    } else {
        v.split([',', ' ', '\n', '\t'])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut out = Vec::new();
    for r in items {
        let r = r.trim().to_string();
        if !valid_relay_url(&r) {
            return Err(Error::Invalid {
                var: "RELAYS",
                reason: format!("{r:?} is not a ws:// or wss:// URL"),
            });
        }
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

/// A relay URL: `ws://` or `wss://`, a non-empty host, no whitespace or control characters.
pub fn valid_relay_url(r: &str) -> bool {
    let rest = r.strip_prefix("wss://").or_else(|| r.strip_prefix("ws://"));
    match rest {
        Some(rest) => {
            !rest.is_empty()
                && !rest.starts_with('/')
                && r.len() <= 512
                && !r.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

impl Config {
    /// Builds the configuration from a lookup function (the process environment in
    /// production). Flags override: pass them through `overrides` (`HOST_NAME`, `HOST_PORT`,
    /// `FROSTBOX_DATA`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let mut c = Config::default();
        let nonempty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(v) = nonempty("HOST_NAME") {
            c.host = v.trim().to_string();
        }
        if let Some(v) = nonempty("HOST_PORT") {
            c.port = parse_num("HOST_PORT", &v, 0u16, u16::MAX)?;
        }
        if let Some(v) = nonempty("FROSTBOX_DATA") {
            c.data_dir = PathBuf::from(v);
        }
        if let Some(v) = nonempty("RELAYS") {
            c.relays = parse_relays(&v)?;
        }
        let secret = |k: &str| {
            nonempty(k)
                .filter(|v| v != "REQUIRED_ADMIN_SECRET_NOT_SET")
                .map(SecretString::new)
        };
        c.admin_secret = secret("ADMIN_SECRET");
        c.api_key = secret("API_KEY");
        c.metrics_token = secret("METRICS_TOKEN");
        c.group_cred = secret("GROUP_CRED");
        c.share_cred = secret("SHARE_CRED");
        c.group_name = nonempty("GROUP_NAME");
        if let Some(v) = nonempty("HEADLESS") {
            c.headless = parse_bool("HEADLESS", &v)?;
        }
        if let Some(v) = nonempty("PEER_POLICIES") {
            c.peer_policy_seeds = parse_peer_policies(&v)?;
            c.peer_policies = Some(v);
        }
        if let Some(v) = nonempty("ALLOWED_ORIGINS") {
            c.allowed_origins = v
                .split(',')
                .map(|s| s.trim().trim_end_matches('/').to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(v) = nonempty("TRUST_PROXY") {
            c.trust_proxy = parse_bool("TRUST_PROXY", &v)?;
        }
        if let Some(v) = nonempty("SESSION_TIMEOUT") {
            c.session_timeout = parse_num("SESSION_TIMEOUT", &v, 60u64, 30 * 86_400)?;
        }
        if let Some(v) = nonempty("RATE_LIMIT_ENABLED") {
            c.rate_limit_enabled = parse_bool("RATE_LIMIT_ENABLED", &v)?;
        }
        if let Some(v) = nonempty("RATE_LIMIT_WINDOW") {
            c.rate_limit_window = parse_num("RATE_LIMIT_WINDOW", &v, 1u64, 3600)?;
        }
        if let Some(v) = nonempty("RATE_LIMIT_MAX") {
            c.rate_limit_max = parse_num("RATE_LIMIT_MAX", &v, 1u32, 1_000_000)?;
        }
        if let Some(v) = nonempty("FROSTR_SIGN_TIMEOUT").or_else(|| nonempty("SIGN_TIMEOUT_MS")) {
            c.sign_timeout_ms = parse_num("FROSTR_SIGN_TIMEOUT", &v, 1000u64, 120_000)?;
        }
        if let Some(v) = nonempty("FROSTBOX_SECURE_COOKIES") {
            c.secure_cookies = parse_bool("FROSTBOX_SECURE_COOKIES", &v)?;
        }
        if let Some(v) = nonempty("FROSTBOX_VAULT_MODE") {
            c.vault_mode = match v.trim().to_ascii_lowercase().as_str() {
                "locked" => VaultMode::Locked,
                "unattended" => VaultMode::Unattended,
                _ => {
                    return Err(Error::Invalid {
                        var: "FROSTBOX_VAULT_MODE",
                        reason: "expected locked or unattended".into(),
                    });
                }
            };
        }
        parse_relay_env(&nonempty, &mut c.relay)?;
        c.relay.trust_forwarded_for = c.trust_proxy;
        Ok(c)
    }

    /// From the process environment.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// `host:port` for binding; IPv6 literals are bracketed.
    pub fn bind_addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn every_env_var_is_documented_in_the_readme() {
        let readme = include_str!("../../README.md");
        for v in ENV_VARS {
            assert!(
                readme.contains(&format!("`{v}`")),
                "{v} is not in README.md"
            );
        }
    }

    #[test]
    fn relay_settings_from_env() {
        let d = cfg(&[]).expect("defaults");
        assert!(!d.relay.open, "restricted by default");
        assert!(d.relay.allowlist.is_empty());
        let pk = [0x11u8; 32];
        let npub = crate::nostr::nip19::encode_npub(&[0x22; 32]);
        let c = cfg(&[
            ("RELAY_OPEN", "true"),
            ("RELAY_ALLOWLIST", &format!("{}, {npub}", hex::encode(pk))),
            ("RELAY_MAX_FRAME_BYTES", "262144"),
            ("RELAY_MAX_EVENT_BYTES", "131072"),
            ("RELAY_MAX_CONNS_PER_IP", "4"),
            ("RELAY_RATE_PER_SEC", "12.5"),
            ("RELAY_TTL_SECS", "60"),
            ("TRUST_PROXY", "true"),
        ])
        .expect("relay env");
        assert!(c.relay.open);
        assert_eq!(c.relay.allowlist, vec![pk, [0x22; 32]]);
        assert_eq!(
            (c.relay.max_frame_bytes, c.relay.max_event_bytes),
            (262_144, 131_072)
        );
        assert_eq!(c.relay.max_conns_per_ip, 4);
        assert_eq!(c.relay.rate_per_sec, 12.5);
        assert_eq!(c.relay.ttl, std::time::Duration::from_secs(60));
        assert!(c.relay.trust_forwarded_for);
        for (k, v, why) in [
            ("RELAY_OPEN", "maybe", "expected true/false"),
            ("RELAY_ALLOWLIST", "npub1nope", "not an npub"),
            ("RELAY_MAX_CONNS", "0", "between"),
            (
                "RELAY_MAX_EVENT_BYTES",
                "200000",
                "exceeds RELAY_MAX_FRAME_BYTES",
            ),
            ("RELAY_TTL_SECS", "-5", "expected a number"),
        ] {
            let e = cfg(&[(k, v)]).expect_err(k).to_string();
            assert!(e.starts_with(k) && e.contains(why), "{k}={v}: {e}");
        }
    }

    #[test]
    fn defaults_match_the_brief() {
        let c = cfg(&[]).expect("defaults");
        assert_eq!(c.bind_addr(), "127.0.0.1:8002");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert!(c.admin_secret.is_none());
        assert!(!c.headless);
    }

    #[test]
    fn igloo_names_are_read() {
        let c = cfg(&[
            ("HOST_NAME", "0.0.0.0"),
            ("HOST_PORT", "9000"),
            ("HEADLESS", "yes"),
            ("RELAYS", r#"["ws://localhost:8002","wss://relay.example"]"#),
            ("ADMIN_SECRET", "REQUIRED_ADMIN_SECRET_NOT_SET"),
        ])
        .expect("config");
        assert_eq!(c.bind_addr(), "0.0.0.0:9000");
        assert!(c.headless);
        assert_eq!(c.relays, vec!["ws://localhost:8002", "wss://relay.example"]);
        assert!(c.admin_secret.is_none(), "placeholder counts as unset");
    }

    #[test]
    fn bad_values_are_named() {
        let e = cfg(&[("HOST_PORT", "99999")]).err();
        assert!(matches!(
            e,
            Some(Error::Invalid {
                var: "HOST_PORT",
                ..
            })
        ));
        let e = cfg(&[("RELAYS", "https://x")]).err();
        assert!(matches!(e, Some(Error::Invalid { var: "RELAYS", .. })));
        let e = cfg(&[("HEADLESS", "maybe")]).err();
        assert!(matches!(
            e,
            Some(Error::Invalid {
                var: "HEADLESS",
                ..
            })
        ));
        assert_eq!(
            parse_relays("wss://a, wss://b wss://a").expect("csv"),
            vec!["wss://a", "wss://b"]
        );
        assert!(!valid_relay_url("ws://"));
        assert!(!valid_relay_url("wss://a b"));
    }

    #[test]
    fn peer_policies_in_all_three_forms() {
        let x = "aa".repeat(32);
        let y = format!("03{}", "bb".repeat(32));
        let arr = format!(
            r#"[{{"pubkey":"{x}","allowReceive":false,"label":"laptop"}},{{"pubkey":"{}","allowSend":false}}]"#,
            y.to_uppercase()
        );
        let c = cfg(&[("PEER_POLICIES", &arr)]).expect("array");
        let s = &c.peer_policy_seeds;
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].xonly, s[0].allow_send, s[0].allow_receive),
            ([0xaa; 32], None, Some(false))
        );
        assert_eq!(s[0].label.as_deref(), Some("laptop"));
        assert_eq!((s[1].xonly, s[1].pubkey.as_str()), ([0xbb; 32], y.as_str()));
        assert_eq!(s[1].allow_send, Some(false));
        let one = format!(r#"{{"pubkey":"{x}","allowSend":true}}"#);
        assert_eq!(
            parse_peer_policies(&one).expect("one")[0].allow_send,
            Some(true)
        );
        let keyed = format!(r#"{{"{y}":{{"allowReceive":false}}}}"#);
        let k = parse_peer_policies(&keyed).expect("keyed");
        assert_eq!((k[0].xonly, k[0].allow_receive), ([0xbb; 32], Some(false)));
        for bad in [
            "nope".to_string(),
            "3".to_string(),
            r#"[{"allowSend":false}]"#.to_string(),
            r#"[{"pubkey":"abcd"}]"#.to_string(),
            format!(r#"[{{"pubkey":"{x}","allowSend":"no"}}]"#),
            format!(r#"[{{"pubkey":"{x}"}},{{"pubkey":"02{x}"}}]"#),
        ] {
            let e = cfg(&[("PEER_POLICIES", &bad)]).expect_err(&bad);
            assert!(e.to_string().starts_with("PEER_POLICIES:"), "{e}");
        }
    }
}
