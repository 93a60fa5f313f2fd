//! Kind-20000 events ↔ envelopes (FROSTR-NEXT §2, §3): one `p` tag, NIP-44 v2 with unpadded
//! standard base64, BIP-340 event signatures with zero aux (deterministic, like bifrost-rs).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::frostr::next::wire::Envelope;
use crate::nostr::{Event, Filter, keys, nip44};
use crate::vault::secret::Secret32;

pub const KIND: u16 = 20000;

/// Why an event was dropped before reaching the engine (§2 steps 1–4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    #[error("kind {0} is not {KIND}")]
    Kind(u16),
    #[error("event does not carry exactly one p tag for us ({0} p tags)")]
    Recipient(usize),
    #[error("event is from ourselves")]
    FromSelf,
    #[error("author {0} is not a group member")]
    NotMember(String),
    #[error("event from {0} has a bad id or signature")]
    BadEvent(String),
    #[error("cannot decrypt content from {peer}: {reason}")]
    Decrypt { peer: String, reason: String },
    #[error("malformed envelope from {peer}: {reason}")]
    Envelope { peer: String, reason: String },
}

/// Seals and opens events for one member. Conversation keys are cached per peer.
pub struct Codec {
    secret: Secret32,
    key: keys::SigningKey,
    me: [u8; 32],
    me_hex: String,
    members: HashSet<[u8; 32]>,
    conv: Mutex<HashMap<[u8; 32], Secret32>>,
    verify_events: bool,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Codec({})", self.me_hex)
    }
}

impl Codec {
    /// `members`: the x-only keys of the other group members.
    pub fn new(
        secret: Secret32,
        members: impl IntoIterator<Item = [u8; 32]>,
    ) -> Result<Self, crate::nostr::Error> {
        let key = keys::SigningKey::new(&secret)?;
        let me = key.xonly();
        Ok(Self {
            secret,
            key,
            me,
            me_hex: hex::encode(me),
            members: members.into_iter().filter(|m| *m != me).collect(),
            conv: Mutex::new(HashMap::new()),
            verify_events: true,
        })
    }

    /// Skips the id/signature check (when the transport already verified every event).
    pub fn trust_transport_verification(mut self) -> Self {
        self.verify_events = false;
        self
    }

    pub fn me(&self) -> [u8; 32] {
        self.me
    }

    /// The subscription filter of §2: `{"kinds":[20000],"authors":[others],"#p":[me]}`.
    pub fn filter(&self) -> Filter {
        let mut authors: Vec<[u8; 32]> = self.members.iter().copied().collect();
        authors.sort_unstable();
        Filter::new()
            .kinds([KIND])
            .authors(authors)
            .p_tags([self.me])
    }

    /// NIP-44 conversation key with `peer` (an ECDH, ~50 µs, paid once per member): cached
    /// for group members only, so the cache is bounded by the group size; anyone else (a
    /// `send_raw` to a stranger) is computed each time. Entries are `Secret32` (zeroized on
    /// drop with the codec).
    fn conversation_key(&self, peer: &[u8; 32]) -> Result<Secret32, crate::nostr::Error> {
        if let Ok(g) = self.conv.lock()
            && let Some(k) = g.get(peer)
        {
            return Ok(k.duplicate());
        }
        let k = nip44::conversation_key(&self.secret, peer)?;
        if self.members.contains(peer)
            && let Ok(mut g) = self.conv.lock()
        {
            g.insert(*peer, k.duplicate());
        }
        Ok(k)
    }

    /// Conversation keys held in the cache (tests).
    pub fn cached_conversation_keys(&self) -> usize {
        self.conv.lock().map(|g| g.len()).unwrap_or(0)
    }

    /// Encrypts and signs an envelope for `to`; `created_at` = the envelope's `sent_at`.
    pub fn seal(&self, to: &[u8; 32], env: &Envelope) -> Result<Event, crate::nostr::Error> {
        let conv = self.conversation_key(to)?;
        let content = nip44::encrypt(&conv, &env.to_json(), nip44::B64::Unpadded)?;
        Ok(Event::sign_with(
            &self.key,
            env.sent_at,
            KIND,
            vec![vec!["p".to_string(), hex::encode(to)]],
            content,
            [0u8; 32],
        ))
    }

    /// §2 steps 1–4: kind, single `p` tag for us, author is another member, decrypt, parse.
    pub fn open(&self, ev: &Event) -> Result<([u8; 32], Envelope), DropReason> {
        if ev.kind != KIND {
            return Err(DropReason::Kind(ev.kind));
        }
        let ps: Vec<&Vec<String>> = ev
            .tags
            .iter()
            .filter(|t| t.first().map(String::as_str) == Some("p"))
            .collect();
        if ps.len() != 1 || ps[0].get(1).map(String::as_str) != Some(self.me_hex.as_str()) {
            return Err(DropReason::Recipient(ps.len()));
        }
        if ev.pubkey == self.me {
            return Err(DropReason::FromSelf);
        }
        let peer = hex::encode(ev.pubkey);
        if !self.members.contains(&ev.pubkey) {
            return Err(DropReason::NotMember(peer));
        }
        if self.verify_events && ev.verify().is_err() {
            return Err(DropReason::BadEvent(peer));
        }
        let conv = self
            .conversation_key(&ev.pubkey)
            .map_err(|e| DropReason::Decrypt {
                peer: peer.clone(),
                reason: e.to_string(),
            })?;
        let plain = nip44::decrypt(&conv, &ev.content).map_err(|e| DropReason::Decrypt {
            peer: peer.clone(),
            reason: e.to_string(),
        })?;
        let env: Envelope = serde_json::from_str(&plain).map_err(|e| DropReason::Envelope {
            peer: peer.clone(),
            reason: e.to_string(),
        })?;
        Ok((ev.pubkey, env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frostr::next::wire::Payload;

    fn key(b: u8) -> (Secret32, [u8; 32]) {
        let s = Secret32::new([b; 32]);
        let x = keys::xonly_pubkey(&s).expect("key");
        (s, x)
    }

    fn ping_env() -> Envelope {
        Envelope {
            request_id: "r1".into(),
            sent_at: 1_700_000_000,
            payload: Payload::Error(crate::frostr::next::wire::ErrorPayload {
                code: "x".into(),
                message: "y".into(),
            }),
        }
    }

    #[test]
    fn conversation_keys_are_cached_per_member_and_bounded() {
        let (me, _) = key(1);
        let (_, a) = key(2);
        let (_, b) = key(3);
        let (_, stranger) = key(4);
        let codec = Codec::new(me.duplicate(), [a, b]).expect("codec");
        assert_eq!(codec.cached_conversation_keys(), 0);
        let ka = codec.conversation_key(&a).expect("a");
        assert_eq!(codec.cached_conversation_keys(), 1);
        // Hit: the same key again, no new entry; equal to a fresh computation.
        let ka2 = codec.conversation_key(&a).expect("a again");
        assert_eq!(ka.expose(), ka2.expose());
        assert_eq!(
            ka.expose(),
            nip44::conversation_key(&me, &a).expect("fresh").expose()
        );
        assert_eq!(codec.cached_conversation_keys(), 1);
        // Different peer, different key.
        let kb = codec.conversation_key(&b).expect("b");
        assert_ne!(ka.expose(), kb.expose());
        assert_eq!(codec.cached_conversation_keys(), 2);
        // Bound: non-members are never cached, however many there are.
        for i in 10..40u8 {
            let (_, x) = key(i);
            codec.conversation_key(&x).expect("stranger");
        }
        let ks = codec.conversation_key(&stranger).expect("stranger");
        assert_ne!(ks.expose(), ka.expose());
        assert_eq!(codec.cached_conversation_keys(), 2);
        // The cached key really decrypts what the peer seals.
        let (sa, _) = key(2);
        let peer_codec = Codec::new(sa, [keys::xonly_pubkey(&me).expect("me")]).expect("peer");
        let ev = peer_codec.seal(&codec.me(), &ping_env()).expect("seal");
        let (from, env) = codec.open(&ev).expect("open");
        assert_eq!(from, a);
        assert_eq!(env.request_id, "r1");
    }

    #[test]
    fn bad_signature_is_rejected_when_the_transport_did_not_verify() {
        let (me, mx) = key(1);
        let (sa, a) = key(2);
        let peer_codec = Codec::new(sa, [mx]).expect("peer");
        let mut ev = peer_codec.seal(&mx, &ping_env()).expect("seal");
        ev.sig[3] ^= 1;
        let codec = Codec::new(me, [a]).expect("codec");
        assert_eq!(
            codec.open(&ev).map(|_| ()),
            Err(DropReason::BadEvent(hex::encode(a)))
        );
    }
}
