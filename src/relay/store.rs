//! The relay's in-memory event store: bounded by count and bytes, TTL-purged, indexed by id,
//! author and kind, ordered newest first (ties: lowest id first, NIP-01). Nothing touches disk.

use crate::nostr::{Event, Filter};
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// One stored event with its pre-serialised JSON.
#[derive(Debug)]
pub struct StoredEvent {
    pub event: Event,
    pub json: Box<str>,
    /// Insertion sequence number (monotonic across the store).
    pub seq: u64,
    /// Unix seconds when the relay received it (drives the TTL).
    pub received_at: u64,
    /// NIP-40 expiration, if any.
    pub expires_at: Option<u64>,
    /// Accounted size in bytes.
    pub bytes: usize,
}

impl StoredEvent {
    pub fn new(event: Event, received_at: u64) -> StoredEvent {
        let json: Box<str> = event.to_json().into_boxed_str();
        // JSON + the parsed copy (content and tags) + fixed overhead of the indexes.
        let parsed: usize = event.content.len()
            + event
                .tags
                .iter()
                .flatten()
                .map(|s| s.len() + 24)
                .sum::<usize>();
        let bytes = json.len() + parsed + 320;
        let expires_at = event.expiration();
        StoredEvent {
            event,
            json,
            seq: u64::MAX,
            received_at,
            expires_at,
            bytes,
        }
    }

    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

type Key = (u64, Reverse<[u8; 32]>);

fn key(e: &Event) -> Key {
    (e.created_at, Reverse(e.id))
}

/// Result of an insert.
#[derive(Debug)]
pub enum Insert {
    Stored(Arc<StoredEvent>),
    Duplicate,
    /// A replaceable/addressable event that is older than the stored version.
    Outdated,
}

#[derive(Default)]
pub struct Store {
    by_id: HashMap<[u8; 32], Arc<StoredEvent>>,
    by_time: BTreeSet<Key>,
    by_author: HashMap<[u8; 32], BTreeSet<Key>>,
    by_kind: HashMap<u16, BTreeSet<Key>>,
    replaceable: HashMap<([u8; 32], u16, String), [u8; 32]>,
    expiring: BTreeSet<(u64, [u8; 32])>,
    fifo: VecDeque<([u8; 32], u64)>,
    bytes: usize,
    seq: u64,
    pub max_events: usize,
    pub max_bytes: usize,
    pub ttl_secs: u64,
}

impl Store {
    pub fn new(max_events: usize, max_bytes: usize, ttl_secs: u64) -> Store {
        Store {
            max_events,
            max_bytes,
            ttl_secs,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Current sequence number: every stored event with `seq <= current_seq()` is visible.
    pub fn current_seq(&self) -> u64 {
        self.seq
    }

    pub fn contains(&self, id: &[u8; 32]) -> bool {
        self.by_id.contains_key(id)
    }

    fn remove(&mut self, id: &[u8; 32]) -> Option<Arc<StoredEvent>> {
        let se = self.by_id.remove(id)?;
        let k = key(&se.event);
        self.by_time.remove(&k);
        if let Some(s) = self.by_author.get_mut(&se.event.pubkey) {
            s.remove(&k);
            if s.is_empty() {
                self.by_author.remove(&se.event.pubkey);
            }
        }
        if let Some(s) = self.by_kind.get_mut(&se.event.kind) {
            s.remove(&k);
            if s.is_empty() {
                self.by_kind.remove(&se.event.kind);
            }
        }
        if se.event.is_replaceable() || se.event.is_addressable() {
            let rk = replace_key(&se.event);
            if self.replaceable.get(&rk) == Some(id) {
                self.replaceable.remove(&rk);
            }
        }
        if let Some(t) = se.expires_at {
            self.expiring.remove(&(t, *id));
        }
        self.bytes = self.bytes.saturating_sub(se.bytes);
        Some(se)
    }

    /// Inserts a (verified, non-ephemeral) event, evicting the oldest-received events to stay
    /// within the caps.
    pub fn insert(&mut self, mut se: StoredEvent, now: u64) -> Insert {
        if self.by_id.contains_key(&se.event.id) {
            return Insert::Duplicate;
        }
        if se.bytes > self.max_bytes || self.max_events == 0 {
            return Insert::Outdated;
        }
        if se.event.is_replaceable() || se.event.is_addressable() {
            let rk = replace_key(&se.event);
            if let Some(old_id) = self.replaceable.get(&rk).copied() {
                // the stored one is newer (or the same second with a lower id)
                if let Some(old) = self.by_id.get(&old_id)
                    && key(&old.event) > key(&se.event)
                {
                    return Insert::Outdated;
                }
                self.remove(&old_id);
            }
            self.replaceable.insert(rk, se.event.id);
        }
        self.purge(now);
        while !self.by_id.is_empty()
            && (self.by_id.len() >= self.max_events || self.bytes + se.bytes > self.max_bytes)
        {
            if !self.evict_oldest() {
                break;
            }
        }
        self.seq += 1;
        se.seq = self.seq;
        let k = key(&se.event);
        let id = se.event.id;
        self.by_time.insert(k);
        self.by_author.entry(se.event.pubkey).or_default().insert(k);
        self.by_kind.entry(se.event.kind).or_default().insert(k);
        self.fifo.push_back((id, se.seq));
        if let Some(t) = se.expires_at {
            self.expiring.insert((t, id));
        }
        self.bytes += se.bytes;
        let arc = Arc::new(se);
        self.by_id.insert(id, arc.clone());
        Insert::Stored(arc)
    }

    fn evict_oldest(&mut self) -> bool {
        while let Some((id, seq)) = self.fifo.pop_front() {
            if self.by_id.get(&id).is_some_and(|e| e.seq == seq) {
                self.remove(&id);
                return true;
            }
        }
        false
    }

    /// Drops events past the TTL or their NIP-40 expiration. Returns how many were removed.
    pub fn purge(&mut self, now: u64) -> usize {
        let mut n = 0;
        while let Some((id, seq)) = self.fifo.front().copied() {
            match self.by_id.get(&id) {
                Some(e) if e.seq == seq => {
                    if e.received_at.saturating_add(self.ttl_secs) <= now {
                        self.fifo.pop_front();
                        self.remove(&id);
                        n += 1;
                    } else {
                        break;
                    }
                }
                _ => {
                    self.fifo.pop_front();
                }
            }
        }
        while let Some((t, id)) = self.expiring.first().copied() {
            if t > now {
                break;
            }
            self.expiring.pop_first();
            if self.remove(&id).is_some() {
                n += 1;
            }
        }
        if self.fifo.len() > 2 * self.by_id.len() + 1024 {
            let by_id = &self.by_id;
            self.fifo
                .retain(|(id, seq)| by_id.get(id).is_some_and(|e| e.seq == *seq));
        }
        n
    }

    /// Stored events matching any of `filters`, newest first, each filter's `limit` (capped at
    /// `max_limit`) honoured, de-duplicated. A filter with `limit: 0` contributes nothing.
    pub fn query(&self, filters: &[Filter], now: u64, max_limit: usize) -> Vec<Arc<StoredEvent>> {
        let mut seen: HashSet<[u8; 32]> = HashSet::new();
        let mut out: Vec<Arc<StoredEvent>> = Vec::new();
        for f in filters {
            let limit = f.limit.unwrap_or(max_limit).min(max_limit);
            if limit == 0 || f.is_unsatisfiable() {
                continue;
            }
            for se in self.query_one(f, now, limit) {
                if seen.insert(se.event.id) {
                    out.push(se);
                }
            }
        }
        out.sort_by_key(|e| Reverse(key(&e.event)));
        out
    }

    /// Number of stored events matching any filter (NIP-45), ignoring limits.
    pub fn count(&self, filters: &[Filter], now: u64) -> u64 {
        let mut seen: HashSet<[u8; 32]> = HashSet::new();
        for f in filters {
            if f.is_unsatisfiable() {
                continue;
            }
            for se in self.query_one(f, now, usize::MAX) {
                seen.insert(se.event.id);
            }
        }
        seen.len() as u64
    }

    fn query_one(&self, f: &Filter, now: u64, limit: usize) -> Vec<Arc<StoredEvent>> {
        let ok = |se: &Arc<StoredEvent>| !se.is_expired(now) && f.matches(&se.event);
        if let Some(ids) = &f.ids {
            let mut v: Vec<Arc<StoredEvent>> = ids
                .iter()
                .filter_map(|id| self.by_id.get(id))
                .filter(|se| ok(se))
                .cloned()
                .collect();
            v.sort_by_key(|e| Reverse(key(&e.event)));
            v.dedup_by(|a, b| a.event.id == b.event.id);
            v.truncate(limit);
            return v;
        }
        let lo: Key = (f.since.unwrap_or(0), Reverse([0xff; 32]));
        let hi: Key = (f.until.unwrap_or(u64::MAX), Reverse([0; 32]));
        if lo > hi {
            return Vec::new();
        }
        let scan = |set: &BTreeSet<Key>, out: &mut Vec<Arc<StoredEvent>>| {
            let mut taken = 0;
            for (_, Reverse(id)) in set.range(lo..=hi).rev() {
                if taken >= limit {
                    break;
                }
                if let Some(se) = self.by_id.get(id)
                    && ok(se)
                {
                    out.push(se.clone());
                    taken += 1;
                }
            }
        };
        let mut out = Vec::new();
        if let Some(authors) = &f.authors {
            for a in authors {
                if let Some(set) = self.by_author.get(a) {
                    scan(set, &mut out);
                }
            }
        } else if let Some(kinds) = &f.kinds {
            for k in kinds {
                if let Some(set) = self.by_kind.get(k) {
                    scan(set, &mut out);
                }
            }
        } else {
            scan(&self.by_time, &mut out);
        }
        if out.len() > limit
            || f.authors.as_ref().is_some_and(|a| a.len() > 1)
            || f.kinds.as_ref().is_some_and(|k| k.len() > 1)
        {
            out.sort_by_key(|e| Reverse(key(&e.event)));
            out.dedup_by(|a, b| a.event.id == b.event.id);
            out.truncate(limit);
        }
        out
    }
}

fn replace_key(e: &Event) -> ([u8; 32], u16, String) {
    let d = if e.is_addressable() {
        e.d_tag().to_owned()
    } else {
        String::new()
    };
    (e.pubkey, e.kind, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::secret::Secret32;

    fn ev(sk: u8, t: u64, kind: u16, tags: Vec<Vec<String>>) -> Event {
        Event::sign(
            &Secret32::new([sk; 32]),
            t,
            kind,
            tags,
            format!("{t}"),
            [0; 32],
        )
        .expect("sign")
    }

    #[test]
    fn order_limit_and_indexes() {
        let mut s = Store::new(1000, 1 << 30, 300);
        for t in 1..=10 {
            assert!(matches!(
                s.insert(StoredEvent::new(ev(1, t, 1, vec![]), 0), 0),
                Insert::Stored(_)
            ));
            assert!(matches!(
                s.insert(StoredEvent::new(ev(2, t, 7, vec![]), 0), 0),
                Insert::Stored(_)
            ));
        }
        let r = s.query(&[Filter::new().limit(3)], 0, 500);
        assert_eq!(
            r.iter().map(|e| e.event.created_at).collect::<Vec<_>>(),
            vec![10, 10, 9]
        );
        // tie at created_at: lowest id first
        assert!(r[0].event.id < r[1].event.id);
        let r = s.query(&[Filter::new().kinds([7]).since(4).until(6)], 0, 500);
        assert_eq!(
            r.iter().map(|e| e.event.created_at).collect::<Vec<_>>(),
            vec![6, 5, 4]
        );
        let a1 = ev(1, 1, 1, vec![]).pubkey;
        let r = s.query(
            &[
                Filter::new().authors([a1]).limit(2),
                Filter::new().kinds([7]).limit(1),
            ],
            0,
            500,
        );
        assert_eq!(r.len(), 3);
        assert!(s.query(&[Filter::new().limit(0)], 0, 500).is_empty());
        assert_eq!(s.count(&[Filter::new().kinds([1, 7])], 0), 20);
        assert!(matches!(
            s.insert(StoredEvent::new(ev(1, 1, 1, vec![]), 0), 0),
            Insert::Duplicate
        ));
    }

    #[test]
    fn caps_ttl_expiration_replaceable() {
        let mut s = Store::new(5, 1 << 30, 100);
        for t in 1..=8 {
            s.insert(StoredEvent::new(ev(1, t, 1, vec![]), t), t);
        }
        assert_eq!(s.len(), 5);
        assert_eq!(
            s.query(&[Filter::new()], 8, 500)
                .last()
                .map(|e| e.event.created_at),
            Some(4)
        );
        s.purge(105);
        assert_eq!(s.len(), 3);
        let exp = ev(3, 1, 1, vec![vec!["expiration".into(), "150".into()]]);
        s.insert(StoredEvent::new(exp.clone(), 105), 105);
        assert_eq!(s.query(&[Filter::new().ids([exp.id])], 149, 500).len(), 1);
        assert!(s.query(&[Filter::new().ids([exp.id])], 150, 500).is_empty());
        s.purge(150);
        assert!(!s.contains(&exp.id));
        // replaceable: newer wins, older rejected
        let old = ev(4, 10, 0, vec![]);
        let new = ev(4, 20, 0, vec![]);
        s.insert(StoredEvent::new(new.clone(), 150), 150);
        assert!(matches!(
            s.insert(StoredEvent::new(old, 150), 150),
            Insert::Outdated
        ));
        let newer = ev(4, 30, 0, vec![]);
        assert!(matches!(
            s.insert(StoredEvent::new(newer.clone(), 150), 150),
            Insert::Stored(_)
        ));
        assert!(!s.contains(&new.id));
        // addressable keyed by d
        let a = ev(4, 10, 30000, vec![vec!["d".into(), "x".into()]]);
        let b = ev(4, 10, 30000, vec![vec!["d".into(), "y".into()]]);
        s.insert(StoredEvent::new(a.clone(), 150), 150);
        s.insert(StoredEvent::new(b.clone(), 150), 150);
        assert!(s.contains(&a.id) && s.contains(&b.id));
    }

    #[test]
    fn byte_cap_holds() {
        let mut s = Store::new(1_000_000, 20_000, 1000);
        for t in 0..500 {
            s.insert(StoredEvent::new(ev(1, t, 1, vec![]), 0), 0);
            assert!(s.bytes() <= 20_000);
        }
        assert!(s.len() > 5);
    }
}
