//! `bunker://` and `nostrconnect://` connection URIs.

use super::Error;
use super::policy::Policy;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BunkerUri {
    pub signer_pubkey: [u8; 32],
    pub relays: Vec<String>,
    pub secret: Option<String>,
}

impl BunkerUri {
    /// `bunker://<hex>?relay=<enc>&relay=…&secret=<secret>` (query values percent-encoded).
    pub fn to_uri(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for r in &self.relays {
            q.append_pair("relay", r);
        }
        if let Some(s) = &self.secret {
            q.append_pair("secret", s);
        }
        let q = q.finish();
        if q.is_empty() {
            format!("bunker://{}", hex::encode(self.signer_pubkey))
        } else {
            format!("bunker://{}?{}", hex::encode(self.signer_pubkey), q)
        }
    }

    pub fn parse(s: &str) -> Result<BunkerUri, Error> {
        let rest = s
            .trim()
            .strip_prefix("bunker://")
            .ok_or_else(|| Error::BadUri("must start with bunker://".into()))?;
        let (pk, query) = rest.split_once('?').unwrap_or((rest, ""));
        let signer_pubkey = parse_hex_pubkey(pk.trim_end_matches('/'))?;
        let mut relays = Vec::new();
        let mut secret = None;
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "relay" => relays.push(validate_relay(&v)?),
                "secret" => secret = Some(v.into_owned()),
                _ => {}
            }
        }
        Ok(BunkerUri {
            signer_pubkey,
            relays,
            secret,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NostrConnectUri {
    pub client_pubkey: [u8; 32],
    pub relays: Vec<String>,
    pub secret: String,
    /// Raw `perms` entries as requested.
    pub perms: String,
    pub profile: Profile,
}

impl NostrConnectUri {
    pub fn requested_policy(&self) -> Policy {
        Policy::from_perms(&self.perms).0
    }

    pub fn parse(s: &str) -> Result<NostrConnectUri, Error> {
        let rest = s
            .trim()
            .strip_prefix("nostrconnect://")
            .ok_or_else(|| Error::BadUri("must start with nostrconnect://".into()))?;
        let (pk, query) = rest.split_once('?').unwrap_or((rest, ""));
        let client_pubkey = parse_hex_pubkey(pk.trim_end_matches('/'))?;
        let mut relays = Vec::new();
        let mut secret = None;
        let mut perms = String::new();
        let mut profile = Profile::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "relay" => relays.push(validate_relay(&v)?),
                "secret" => secret = Some(v.into_owned()),
                "perms" => perms = v.into_owned(),
                "name" => profile.name = Some(cap(&v)),
                "url" => profile.url = Some(cap(&v)),
                "image" => profile.image = Some(cap(&v)),
                // older clients: metadata={"name":…,"url":…,"icons":[…]}
                "metadata" => {
                    if let Ok(m) = serde_json::from_str::<serde_json::Value>(&v) {
                        let get = |f: &str| m.get(f).and_then(|x| x.as_str()).map(cap);
                        profile.name = profile.name.take().or_else(|| get("name"));
                        profile.url = profile.url.take().or_else(|| get("url"));
                        profile.image = profile.image.take().or_else(|| {
                            get("image").or_else(|| {
                                m.get("icons")
                                    .and_then(|i| i.get(0))
                                    .and_then(|x| x.as_str())
                                    .map(cap)
                            })
                        });
                    }
                }
                _ => {}
            }
        }
        if relays.is_empty() {
            return Err(Error::BadUri("nostrconnect:// URI names no relay".into()));
        }
        let secret = secret
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::BadUri("nostrconnect:// URI has no secret".into()))?;
        if secret.len() > 256 {
            return Err(Error::BadUri("secret too long".into()));
        }
        Ok(NostrConnectUri {
            client_pubkey,
            relays,
            secret,
            perms,
            profile,
        })
    }
}

fn cap(s: &str) -> String {
    s.chars().take(512).collect()
}

pub fn parse_hex_pubkey(s: &str) -> Result<[u8; 32], Error> {
    let mut out = [0u8; 32];
    if s.len() != 64 || hex::decode_to_slice(s, &mut out).is_err() {
        return Err(Error::BadUri(format!("not a 64-hex pubkey: {:.70}", s)));
    }
    Ok(out)
}

pub fn validate_relay(r: &str) -> Result<String, Error> {
    let r = r.trim();
    let ok = (r.starts_with("wss://") || r.starts_with("ws://"))
        && r.len() <= 512
        && !r.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(Error::BadUri(format!("bad relay URL: {:.80}", r)));
    }
    Ok(r.to_string())
}

/// Fallback host of a `bunker://` relay when the request named none (mDNS name of the box).
pub const FALLBACK_HOST: &str = "frostbox.local";

/// How the operator reached the box (the request that asked for a `bunker://` URI): decides
/// the URL a phone on the LAN uses for the embedded relay, which the bunker itself reaches on
/// loopback.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestOrigin {
    /// `host[:port]` as the client addressed the box (validated, lowercase), if any.
    pub host: Option<String>,
    /// The request came over TLS (a trusted proxy said `https`): the relay URL is `wss://`.
    pub tls: bool,
}

impl RequestOrigin {
    /// From the request: `Host` (or the HTTP/2 authority, `authority`); with `trust_proxy` a
    /// proxy's `X-Forwarded-Host`/`X-Forwarded-Proto` (or RFC 7239 `Forwarded`) win. Values
    /// that are not a plain `host[:port]` are ignored.
    pub fn from_parts(
        headers: &axum::http::HeaderMap,
        authority: Option<&str>,
        trust_proxy: bool,
    ) -> RequestOrigin {
        let first = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_string())
        };
        let mut host = None;
        let mut tls = false;
        if trust_proxy {
            if let Some(fwd) = first("forwarded") {
                for pair in fwd.split(';') {
                    if let Some((k, v)) = pair.split_once('=') {
                        let v = v.trim().trim_matches('"');
                        match k.trim().to_ascii_lowercase().as_str() {
                            "host" => host = host.or_else(|| clean_host(v)),
                            "proto" => tls |= v.eq_ignore_ascii_case("https"),
                            _ => {}
                        }
                    }
                }
            }
            if let Some(h) = first("x-forwarded-host").and_then(|h| clean_host(&h)) {
                host = Some(h);
            }
            if let Some(p) = first("x-forwarded-proto") {
                tls = p.eq_ignore_ascii_case("https") || p.eq_ignore_ascii_case("wss");
            }
        }
        let host = host
            .or_else(|| {
                headers
                    .get(axum::http::header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .and_then(clean_host)
            })
            .or_else(|| authority.and_then(clean_host));
        RequestOrigin { host, tls }
    }

    /// The box's web UI as this client reaches it: `http://<host[:port]>` (`https://` behind a
    /// trusted TLS proxy); `None` when the request named no usable host.
    pub fn web_base(&self) -> Option<String> {
        let scheme = if self.tls { "https" } else { "http" };
        self.host.as_ref().map(|h| format!("{scheme}://{h}"))
    }

    /// The embedded relay (reached by the box on `local`, e.g. `ws://127.0.0.1:8002`) as this
    /// client reaches it: `ws://<host[:port]>` (`wss://` over TLS), else
    /// `ws://frostbox.local:<port of local>`.
    pub fn relay_url(&self, local: &str) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        match &self.host {
            Some(h) => format!("{scheme}://{h}"),
            None => {
                let port = local
                    .split_once("://")
                    .map_or(local, |(_, rest)| rest)
                    .split('/')
                    .next()
                    .and_then(|hp| hp.rsplit_once(':'))
                    .map(|(_, p)| p)
                    .filter(|p| p.parse::<u16>().is_ok());
                match port {
                    Some(p) => format!("{scheme}://{FALLBACK_HOST}:{p}"),
                    None => format!("{scheme}://{FALLBACK_HOST}"),
                }
            }
        }
    }
}

/// The web UI's address when no request told how the operator reaches the box (a client that
/// connected without a `bunker://` token or pasted `nostrconnect://` URI): from the bound
/// socket address `local` (`ip:port`). A wildcard bind (`0.0.0.0`, `::`) → the mDNS name
/// `http://frostbox.local:<port>`; a specific address (loopback, a LAN IP) → that address.
pub fn fallback_web_base(local: &str) -> String {
    match local.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() => format!("http://{FALLBACK_HOST}:{}", a.port()),
        Ok(a) => format!("http://{a}"),
        Err(_) => match local.rsplit_once(':').map(|(_, p)| p.parse::<u16>()) {
            Some(Ok(p)) => format!("http://{FALLBACK_HOST}:{p}"),
            _ => format!("http://{FALLBACK_HOST}"),
        },
    }
}

/// `host[:port]` with a DNS name, IPv4 address or bracketed IPv6 literal, else `None`.
fn clean_host(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() || s.len() > 260 {
        return None;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        if inner.is_empty() || inner.parse::<std::net::Ipv6Addr>().is_err() {
            return None;
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{}]", inner.to_ascii_lowercase()), port)
    } else {
        let (h, p) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        let ok = !h.is_empty()
            && h.len() <= 253
            && !h.starts_with(['.', '-'])
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            return None;
        }
        (h.to_ascii_lowercase(), p)
    };
    match port {
        None => Some(host),
        Some(p) => {
            let ok = !p.is_empty()
                && p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n > 0);
            ok.then(|| format!("{host}:{p}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bunker_roundtrip() {
        let b = BunkerUri {
            signer_pubkey: [7u8; 32],
            relays: vec![
                "ws://127.0.0.1:4848".into(),
                "wss://relay.example/x?y".into(),
            ],
            secret: Some("abc123".into()),
        };
        let s = b.to_uri();
        assert!(s.starts_with(&format!(
            "bunker://{}?relay=ws%3A%2F%2F127",
            hex::encode([7u8; 32])
        )));
        assert_eq!(BunkerUri::parse(&s).ok(), Some(b));
        assert!(BunkerUri::parse("bunker://zz").is_err());
        assert!(BunkerUri::parse(&format!("bunker://{}?relay=http://x", "00".repeat(32))).is_err());
    }

    #[test]
    fn nostrconnect_parse() {
        let pk = "ab".repeat(32);
        let s = format!(
            "nostrconnect://{pk}?relay=wss%3A%2F%2Fr1.example&relay=wss://r2.example&secret=s3cr3t&perms=sign_event%3A1%2Cnip44_encrypt&name=My%20App&url=https%3A%2F%2Fapp.example&image=https%3A%2F%2Fapp.example%2Fi.png"
        );
        let u = NostrConnectUri::parse(&s).expect("parse");
        assert_eq!(u.client_pubkey, [0xab; 32]);
        assert_eq!(u.relays, vec!["wss://r1.example", "wss://r2.example"]);
        assert_eq!(u.secret, "s3cr3t");
        assert_eq!(u.profile.name.as_deref(), Some("My App"));
        assert_eq!(
            u.profile.image.as_deref(),
            Some("https://app.example/i.png")
        );
        let p = u.requested_policy();
        assert_eq!(p.to_perms(), "nip44_encrypt,sign_event:1");
        assert!(NostrConnectUri::parse(&format!("nostrconnect://{pk}?relay=wss://r")).is_err());
        assert!(NostrConnectUri::parse(&format!("nostrconnect://{pk}?secret=x")).is_err());
        let old = format!(
            "nostrconnect://{pk}?relay=wss://r&secret=x&metadata=%7B%22name%22%3A%22Old%22%7D"
        );
        assert_eq!(
            NostrConnectUri::parse(&old)
                .ok()
                .and_then(|u| u.profile.name),
            Some("Old".into())
        );
    }

    fn origin(pairs: &[(&str, &str)], trust: bool) -> RequestOrigin {
        let mut h = axum::http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                axum::http::HeaderValue::from_str(v).expect("value"),
            );
        }
        RequestOrigin::from_parts(&h, None, trust)
    }

    #[test]
    fn relay_url_from_the_request() {
        let local = "ws://127.0.0.1:8002";
        let o = origin(&[("host", "192.168.1.20:8002")], false);
        assert_eq!(o.relay_url(local), "ws://192.168.1.20:8002");
        assert_eq!(
            origin(&[("host", "Frostbox.LAN")], false).relay_url(local),
            "ws://frostbox.lan"
        );
        assert_eq!(
            origin(&[("host", "[FE80::1]:8002")], false).relay_url(local),
            "ws://[fe80::1]:8002"
        );
        // no Host, or one that is not a plain host[:port] → frostbox.local with the port
        for bad in [
            "",
            "evil.example/x",
            "a b",
            "h:99999",
            "h:0",
            "h:",
            "[zz]:1",
            "-x",
            "u@h",
        ] {
            let o = origin(&[("host", bad)], false);
            assert_eq!(o.host, None, "{bad}");
            assert_eq!(o.relay_url(local), "ws://frostbox.local:8002", "{bad}");
        }
        assert_eq!(
            RequestOrigin::default().relay_url("ws://127.0.0.1:41234/"),
            "ws://frostbox.local:41234"
        );
        // HTTP/2: the authority when no Host header
        let o = RequestOrigin::from_parts(&axum::http::HeaderMap::new(), Some("box:9"), false);
        assert_eq!(o.relay_url(local), "ws://box:9");
    }

    #[test]
    fn proxy_headers_only_when_trusted() {
        let local = "ws://127.0.0.1:8002";
        let hdrs = [
            ("host", "127.0.0.1:8002"),
            ("x-forwarded-host", "umbrel.local"),
            ("x-forwarded-proto", "https"),
        ];
        assert_eq!(origin(&hdrs, false).relay_url(local), "ws://127.0.0.1:8002");
        assert_eq!(origin(&hdrs, true).relay_url(local), "wss://umbrel.local");
        let o = origin(
            &[
                ("host", "10.0.0.2:8002"),
                (
                    "forwarded",
                    "for=1.2.3.4;proto=https;host=\"box.example:8443\"",
                ),
            ],
            true,
        );
        assert_eq!(o.relay_url(local), "wss://box.example:8443");
        // a trusted proxy that only says https keeps the Host
        let o = origin(&[("host", "box.lan"), ("x-forwarded-proto", "https")], true);
        assert_eq!(o.relay_url(local), "wss://box.lan");
        let o = origin(&[("x-forwarded-proto", "https")], true);
        assert_eq!(o.relay_url(local), "wss://frostbox.local:8002");
    }

    #[test]
    fn web_base_from_the_request_and_fallback() {
        assert_eq!(
            origin(&[("host", "192.168.1.20:8002")], false).web_base(),
            Some("http://192.168.1.20:8002".into())
        );
        let hdrs = [
            ("host", "127.0.0.1:8002"),
            ("x-forwarded-host", "umbrel.local"),
            ("x-forwarded-proto", "https"),
        ];
        assert_eq!(
            origin(&hdrs, true).web_base(),
            Some("https://umbrel.local".into())
        );
        assert_eq!(
            origin(&hdrs, false).web_base(),
            Some("http://127.0.0.1:8002".into())
        );
        assert_eq!(
            origin(&[("host", "evil.example/x")], false).web_base(),
            None
        );
        assert_eq!(
            fallback_web_base("0.0.0.0:8002"),
            "http://frostbox.local:8002"
        );
        assert_eq!(fallback_web_base("[::]:9000"), "http://frostbox.local:9000");
        assert_eq!(
            fallback_web_base("127.0.0.1:41234"),
            "http://127.0.0.1:41234"
        );
        assert_eq!(fallback_web_base("[::1]:8002"), "http://[::1]:8002");
        assert_eq!(fallback_web_base("box:8002"), "http://frostbox.local:8002");
        assert_eq!(fallback_web_base("nonsense"), "http://frostbox.local");
    }
}
