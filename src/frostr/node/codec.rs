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
        let me = keys::xonly_pubkey(&secret)?;
        Ok(Self {
            secret,
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

    fn conversation_key(&self, peer: &[u8; 32]) -> Result<Secret32, crate::nostr::Error> {
        if let Ok(g) = self.conv.lock()
            && let Some(k) = g.get(peer)
        {
            return Ok(k.duplicate());
        }
        let k = nip44::conversation_key(&self.secret, peer)?;
        if let Ok(mut g) = self.conv.lock() {
            g.insert(*peer, k.duplicate());
        }
        Ok(k)
    }

    /// Encrypts and signs an envelope for `to`; `created_at` = the envelope's `sent_at`.
    pub fn seal(&self, to: &[u8; 32], env: &Envelope) -> Result<Event, crate::nostr::Error> {
        let conv = self.conversation_key(to)?;
        let content = nip44::encrypt(&conv, &env.to_json(), nip44::B64::Unpadded)?;
        Event::sign(
            &self.secret,
            env.sent_at,
            KIND,
            vec![vec!["p".to_string(), hex::encode(to)]],
            content,
            [0u8; 32],
        )
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
