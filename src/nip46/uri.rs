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
}
