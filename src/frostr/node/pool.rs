//! Per-peer nonce pools and the ping v2 inventory rules (FROSTR-NEXT §6.1).
//!
//! A pure data structure, generic over the secret nonce type `S` (in the node: the FROST
//! signing nonces, consumed by value). Nothing here does I/O.

use crate::frostr::next::wire::DerivedPublicNonce;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

pub type Code = [u8; 32];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    pub pool_size: usize,
    pub min_threshold: usize,
    pub critical_threshold: usize,
    pub replenish_count: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            pool_size: 100,
            min_threshold: 20,
            critical_threshold: 5,
            replenish_count: 50,
        }
    }
}

impl PoolConfig {
    /// `min(pool_size, min_threshold + replenish_count)` = 70 by default.
    pub fn target(&self) -> usize {
        self.pool_size
            .min(self.min_threshold + self.replenish_count)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("nonce code {0} is unknown (never issued to this peer)")]
    UnknownCode(String),
    #[error("nonce code {0} was already used")]
    SpentCode(String),
    #[error("nonce code {0} appears twice in one request")]
    DuplicateCode(String),
    #[error("nonce generator failed: {0}")]
    Generator(String),
}

/// Nonce state for one peer P.
pub struct PeerPool<S> {
    cfg: PoolConfig,
    /// Nonces I generated for P, keyed (so sorted) by code, with their secrets.
    outgoing: BTreeMap<Code, (DerivedPublicNonce, S)>,
    /// Codes of outgoing nonces P has used.
    spent: HashSet<Code>,
    /// Public nonces P generated for me, in arrival order.
    incoming: VecDeque<DerivedPublicNonce>,
    incoming_codes: HashSet<Code>,
    /// Codes P last reported holding (∩ my outgoing at that time).
    observed: BTreeSet<Code>,
    /// Incoming codes I already used in a sign request (most recent `USED_MEMORY`), so that a
    /// stale advertisement of the same nonce (a ping or `replenish` P built before it processed
    /// my request, delivered after I took the nonce) cannot put it back into the pool. Without
    /// this, the nonce would be used a second time and P would refuse it as spent.
    used: HashSet<Code>,
    used_order: VecDeque<Code>,
}

/// How many used incoming codes a pool remembers per peer (32 bytes each, ~64 KiB per peer at
/// most). A stale advertisement can only carry codes P still held when it built it, i.e. codes
/// I took at most a few rounds ago; older ones would be refused by P and recovered by a ping.
pub const USED_MEMORY: usize = 2048;

impl<S> std::fmt::Debug for PeerPool<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerPool")
            .field("outgoing", &self.outgoing.len())
            .field("spent", &self.spent.len())
            .field("incoming", &self.incoming.len())
            .field("observed", &self.observed.len())
            .field("used", &self.used.len())
            .finish()
    }
}

impl<S> Default for PeerPool<S> {
    fn default() -> Self {
        Self::new(PoolConfig::default())
    }
}

impl<S> PeerPool<S> {
    pub fn new(cfg: PoolConfig) -> Self {
        Self {
            cfg,
            outgoing: BTreeMap::new(),
            spent: HashSet::new(),
            incoming: VecDeque::new(),
            incoming_codes: HashSet::new(),
            observed: BTreeSet::new(),
            used: HashSet::new(),
            used_order: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &PoolConfig {
        &self.cfg
    }
    pub fn outgoing_len(&self) -> usize {
        self.outgoing.len()
    }
    pub fn spent_len(&self) -> usize {
        self.spent.len()
    }
    pub fn incoming_len(&self) -> usize {
        self.incoming.len()
    }
    pub fn observed_len(&self) -> usize {
        self.observed.len()
    }
    /// True when P is known to hold fewer than `min_threshold` of my nonces.
    pub fn should_send_nonces(&self) -> bool {
        self.observed.len() < self.cfg.min_threshold
    }
    /// §6.1: P is sign-capable (nonce-wise) when I hold more than `critical_threshold` of its
    /// nonces.
    pub fn has_usable_incoming(&self) -> bool {
        self.incoming.len() > self.cfg.critical_threshold
    }
    pub fn is_spent(&self, code: &Code) -> bool {
        self.spent.contains(code)
    }

    /// Generates outgoing nonces until `n` are held (never above `pool_size`), with codes that
    /// collide neither with live nor with spent codes.
    pub fn fill_outgoing<G, E>(&mut self, n: usize, generate: &mut G) -> Result<(), PoolError>
    where
        G: FnMut() -> Result<(DerivedPublicNonce, S), E>,
        E: std::fmt::Display,
    {
        let n = n.min(self.cfg.pool_size);
        let mut collisions = 0;
        while self.outgoing.len() < n {
            let (public, secret) = generate().map_err(|e| PoolError::Generator(e.to_string()))?;
            let code = public.code;
            if self.outgoing.contains_key(&code) || self.spent.contains(&code) {
                collisions += 1;
                if collisions > 16 {
                    return Err(PoolError::Generator(
                        "repeated nonce code collisions".into(),
                    ));
                }
                continue;
            }
            self.outgoing.insert(code, (public, secret));
        }
        Ok(())
    }

    /// The advertisement rule (§6.1 steps 1–3), used for pings and for `replenish`.
    pub fn advertise<G, E>(
        &mut self,
        generate: &mut G,
    ) -> Result<Vec<DerivedPublicNonce>, PoolError>
    where
        G: FnMut() -> Result<(DerivedPublicNonce, S), E>,
        E: std::fmt::Display,
    {
        let observed: BTreeSet<Code> = self
            .observed
            .iter()
            .filter(|c| self.outgoing.contains_key(*c))
            .copied()
            .collect();
        if observed.len() >= self.cfg.min_threshold {
            return Ok(Vec::new());
        }
        let target = self.cfg.target();
        self.fill_outgoing(target, generate)?;
        let max = target - observed.len();
        Ok(self
            .outgoing
            .iter()
            .filter(|(c, _)| !observed.contains(*c))
            .take(max)
            .map(|(_, (p, _))| *p)
            .collect())
    }

    /// §6.1 step 4: all incoming codes I hold from P, sorted.
    pub fn held_codes(&self) -> Vec<Code> {
        let mut v: Vec<Code> = self.incoming_codes.iter().copied().collect();
        v.sort_unstable();
        v
    }

    /// All outgoing public nonces sorted by code (onboard response).
    pub fn outgoing_public(&self) -> Vec<DerivedPublicNonce> {
        self.outgoing.values().map(|(p, _)| *p).collect()
    }

    /// Appends nonces received from P (dedup by code; once `pool_size` are held the rest of the
    /// message is discarded; nothing is evicted). Returns how many were added.
    pub fn store_incoming(&mut self, nonces: &[DerivedPublicNonce]) -> usize {
        let mut added = 0;
        for n in nonces {
            if self.incoming.len() >= self.cfg.pool_size {
                break;
            }
            if self.used.contains(&n.code) {
                continue;
            }
            if self.incoming_codes.insert(n.code) {
                self.incoming.push_back(*n);
                added += 1;
            }
        }
        added
    }

    /// Drops every incoming nonce from P (P refused one as unknown or spent: it restarted and
    /// lost its pool, or the nonces are otherwise stale). A ping refills the pool.
    pub fn clear_incoming(&mut self) -> usize {
        let n = self.incoming.len();
        self.incoming.clear();
        self.incoming_codes.clear();
        n
    }

    /// Whether I already used this incoming code in a request (within `USED_MEMORY`).
    pub fn was_used(&self, code: &Code) -> bool {
        self.used.contains(code)
    }

    fn remember_used(&mut self, code: Code) {
        if self.used.insert(code) {
            self.used_order.push_back(code);
            while self.used_order.len() > USED_MEMORY {
                if let Some(old) = self.used_order.pop_front() {
                    self.used.remove(&old);
                }
            }
        }
    }

    /// Handles a ping (request or response) from P: stores its advertised nonces and replaces
    /// my observation of its holdings.
    pub fn receive_ping(&mut self, advertised: &[DerivedPublicNonce], held: &[Code]) {
        self.store_incoming(advertised);
        self.observed = held
            .iter()
            .filter(|c| self.outgoing.contains_key(*c))
            .copied()
            .collect();
    }

    /// Takes the oldest incoming nonce from P (initiator, §6.2 step 3).
    pub fn take_oldest_incoming(&mut self) -> Option<DerivedPublicNonce> {
        let n = self.incoming.pop_front()?;
        self.incoming_codes.remove(&n.code);
        self.remember_used(n.code);
        Some(n)
    }

    /// Puts a nonce back at the front (a round failed locally before anything was sent).
    pub fn restore_incoming_front(&mut self, n: DerivedPublicNonce) {
        if self.used.remove(&n.code) {
            self.used_order.retain(|c| c != &n.code);
        }
        if self.incoming_codes.insert(n.code) {
            self.incoming.push_front(n);
        }
    }

    /// Whether `code` is one of ours for this peer (held or already used).
    pub fn knows(&self, code: &Code) -> bool {
        self.outgoing.contains_key(code) || self.spent.contains(code)
    }

    /// Claims the secrets for `codes` atomically (§6.2 responder step 4): all or none. A claimed
    /// code leaves the outgoing pool and the observed set and is recorded as spent. `consumed`
    /// reports codes the durable ledger already holds (defence in depth across restarts).
    pub fn claim(
        &mut self,
        codes: &[Code],
        consumed: impl Fn(&Code) -> bool,
    ) -> Result<Vec<(DerivedPublicNonce, S)>, PoolError> {
        let mut seen = HashSet::new();
        for c in codes {
            if !seen.insert(*c) {
                return Err(PoolError::DuplicateCode(hex::encode(c)));
            }
            if self.spent.contains(c) || consumed(c) {
                return Err(PoolError::SpentCode(hex::encode(c)));
            }
            if !self.outgoing.contains_key(c) {
                return Err(PoolError::UnknownCode(hex::encode(c)));
            }
        }
        let mut out = Vec::with_capacity(codes.len());
        for c in codes {
            if let Some(entry) = self.outgoing.remove(c) {
                self.spent.insert(*c);
                self.observed.remove(c);
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Drops outgoing entries whose code the durable ledger reports as consumed (after a
    /// restore from a snapshot).
    pub fn forget_consumed(&mut self, consumed: impl Fn(&Code) -> bool) {
        let gone: Vec<Code> = self
            .outgoing
            .keys()
            .filter(|c| consumed(c))
            .copied()
            .collect();
        for c in gone {
            self.outgoing.remove(&c);
            self.observed.remove(&c);
            self.spent.insert(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dpn(i: u32) -> DerivedPublicNonce {
        let mut code = [0u8; 32];
        code[..4].copy_from_slice(&i.to_be_bytes());
        // Scramble so generation order differs from code order.
        code[0] = (i.wrapping_mul(97) % 251) as u8;
        DerivedPublicNonce {
            binder_pn: [2; 33],
            hidden_pn: [3; 33],
            code,
        }
    }

    fn counter_gen() -> impl FnMut() -> Result<(DerivedPublicNonce, u32), String> {
        let mut i = 0u32;
        move || {
            i += 1;
            Ok((dpn(i), i))
        }
    }

    #[test]
    fn first_advertisement_is_70_sorted() {
        let mut p: PeerPool<u32> = PeerPool::default();
        let mut g = counter_gen();
        let adv = p.advertise(&mut g).expect("adv");
        assert_eq!(adv.len(), 70);
        assert!(adv.windows(2).all(|w| w[0].code < w[1].code));
        assert_eq!(p.outgoing_len(), 70);
        assert!(p.held_codes().is_empty());
    }

    #[test]
    fn observed_at_least_20_suppresses_advertisement() {
        let mut p: PeerPool<u32> = PeerPool::default();
        let mut g = counter_gen();
        let adv = p.advertise(&mut g).expect("adv");
        let held: Vec<Code> = adv.iter().take(20).map(|n| n.code).collect();
        p.receive_ping(&[], &held);
        assert!(p.advertise(&mut g).expect("adv").is_empty());
        assert!(!p.should_send_nonces());
        // 19 observed: advertise the 51 others (70 − 19), skipping observed ones.
        p.receive_ping(&[], &held[..19]);
        let adv2 = p.advertise(&mut g).expect("adv");
        assert_eq!(adv2.len(), 51);
        assert!(adv2.iter().all(|n| !held[..19].contains(&n.code)));
    }

    #[test]
    fn observed_ignores_codes_not_in_outgoing() {
        let mut p: PeerPool<u32> = PeerPool::default();
        let mut g = counter_gen();
        p.advertise(&mut g).expect("adv");
        p.receive_ping(&[], &[[0xee; 32]; 25]);
        assert_eq!(p.observed_len(), 0);
    }

    #[test]
    fn claim_is_atomic_and_single_use() {
        let mut p: PeerPool<u32> = PeerPool::default();
        let mut g = counter_gen();
        let adv = p.advertise(&mut g).expect("adv");
        let (a, b) = (adv[0].code, adv[1].code);
        // Unknown code in the batch → nothing claimed.
        assert!(matches!(
            p.claim(&[a, [9; 32]], |_| false),
            Err(PoolError::UnknownCode(_))
        ));
        assert_eq!(p.outgoing_len(), 70);
        assert!(matches!(
            p.claim(&[a, a], |_| false),
            Err(PoolError::DuplicateCode(_))
        ));
        let got = p.claim(&[a], |_| false).expect("claim");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.code, a);
        assert!(matches!(
            p.claim(&[a], |_| false),
            Err(PoolError::SpentCode(_))
        ));
        // Ledger says consumed → refused.
        assert!(matches!(
            p.claim(&[b], |c| *c == b),
            Err(PoolError::SpentCode(_))
        ));
        assert_eq!(p.outgoing_len(), 69);
        assert_eq!(p.spent_len(), 1);
    }

    #[test]
    fn claimed_code_leaves_observed_and_is_never_regenerated() {
        let mut p: PeerPool<u32> = PeerPool::default();
        let adv = p.advertise(&mut counter_gen()).expect("adv");
        let held: Vec<Code> = adv.iter().map(|n| n.code).collect();
        p.receive_ping(&[], &held);
        assert_eq!(p.observed_len(), 70);
        p.claim(&[held[0]], |_| false).expect("claim");
        assert_eq!(p.observed_len(), 69);
        // A generator that first returns the spent code: it's skipped.
        let spent = adv[0];
        let mut first = true;
        let mut i = 1000;
        let mut g = || -> Result<(DerivedPublicNonce, u32), String> {
            if first {
                first = false;
                return Ok((spent, 0));
            }
            i += 1;
            Ok((dpn(i), i))
        };
        p.fill_outgoing(70, &mut g).expect("fill");
        assert_eq!(p.outgoing_len(), 70);
        assert!(!p.outgoing_public().iter().any(|n| n.code == held[0]));
    }

    #[test]
    fn incoming_fifo_dedup_and_cap() {
        let mut p: PeerPool<u32> = PeerPool::default();
        let batch1: Vec<_> = (1..=60).map(dpn).collect();
        let batch2: Vec<_> = (41..=120).map(dpn).collect();
        assert_eq!(p.store_incoming(&batch1), 60);
        // 41..=60 are duplicates; 61..=100 fill to 100; 101..=120 are discarded.
        assert_eq!(p.store_incoming(&batch2), 40);
        assert_eq!(p.incoming_len(), 100);
        assert_eq!(p.take_oldest_incoming().map(|n| n.code), Some(dpn(1).code));
        assert_eq!(p.incoming_len(), 99);
        assert_eq!(p.store_incoming(&[dpn(200), dpn(201)]), 1);
        assert!(p.held_codes().windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn outgoing_never_exceeds_pool_size() {
        let mut p: PeerPool<u32> = PeerPool::default();
        p.fill_outgoing(500, &mut counter_gen()).expect("fill");
        assert_eq!(p.outgoing_len(), 100);
    }

    #[test]
    fn usable_incoming_needs_more_than_critical() {
        let mut p: PeerPool<u32> = PeerPool::default();
        p.store_incoming(&(1..=5).map(dpn).collect::<Vec<_>>());
        assert!(!p.has_usable_incoming());
        p.store_incoming(&[dpn(6)]);
        assert!(p.has_usable_incoming());
    }

    #[test]
    fn a_used_incoming_nonce_is_not_stored_again_from_a_stale_advertisement() {
        let mut p: PeerPool<u32> = PeerPool::default();
        let adv: Vec<DerivedPublicNonce> = (1..=10).map(dpn).collect();
        assert_eq!(p.store_incoming(&adv), 10);
        let first = p.take_oldest_incoming().expect("nonce");
        assert!(p.was_used(&first.code));
        // The same advertisement arrives again (built before the peer saw my request).
        assert_eq!(p.store_incoming(&adv), 0);
        assert_eq!(p.incoming_len(), 9);
        assert!(!p.held_codes().contains(&first.code));
        // A nonce put back before anything was sent is usable again.
        let second = p.take_oldest_incoming().expect("nonce");
        p.restore_incoming_front(second);
        assert!(!p.was_used(&second.code));
        assert_eq!(p.take_oldest_incoming(), Some(second));
    }

    #[test]
    fn used_memory_is_bounded_and_clear_incoming_empties_the_pool() {
        let mut p: PeerPool<u32> = PeerPool::default();
        for k in 0..(USED_MEMORY as u32 + 10) {
            p.store_incoming(&[dpn(100_000 + k)]);
            assert!(p.take_oldest_incoming().is_some());
        }
        assert_eq!(p.used.len(), USED_MEMORY);
        assert_eq!(p.used_order.len(), USED_MEMORY);
        assert!(!p.was_used(&dpn(100_000).code));
        assert!(p.was_used(&dpn(100_000 + USED_MEMORY as u32 + 9).code));
        p.store_incoming(&(1..=8).map(dpn).collect::<Vec<_>>());
        assert_eq!(p.clear_incoming(), 8);
        assert_eq!(p.incoming_len(), 0);
        assert!(p.held_codes().is_empty());
    }
}
