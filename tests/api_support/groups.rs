//! Fixtures for tests that run `frostbox serve` with several keysets: a 2-of-3 group whose share 0
//! the box imports (a bfprofile) while share 1 co-signs from the test process, and a served
//! process whose log is printed when the test fails.

use super::procs;
use frostbox::frost::{self, MemoryNonceLedger};
use frostbox::frostr::next::credential::BfProfile;
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::node::{Node, NodeConfig, NodeHandle};
use std::sync::Arc;

/// The password of every profile [`Group::profile`] encodes.
pub const SHARE_PW: &str = "keysets-share-password-1";

/// A `frostbox serve` with its log shown when the test fails.
pub struct Served(pub procs::Proc);

impl Drop for Served {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(g) = self.0.log.lock()
        {
            eprintln!("--- frostbox serve log ---\n{g}");
        }
    }
}

/// One 2-of-3 group: the box holds share 0, a co-signer share 1.
pub struct Group {
    pub shares: Vec<frost::KeyShare>,
    pub pkg: GroupPackage,
}

impl Group {
    pub fn new(name: &str) -> Group {
        let ks = frost::keygen(2, 3).expect("keygen");
        Group {
            pkg: GroupPackage::from_keys(name, &ks.group),
            shares: ks.shares,
        }
    }
    pub fn pk(&self) -> [u8; 32] {
        self.pkg.group_pk
    }
    /// Share 0 as a bfprofile (password [`SHARE_PW`]) whose device relays are `relay`.
    pub fn profile(&self, relay: &str) -> String {
        BfProfile::new(
            "box",
            self.shares[0].secret.duplicate(),
            vec![relay.to_string()],
            vec![],
            self.pkg.clone(),
        )
        .expect("profile")
        .encode(SHARE_PW)
        .expect("encode")
    }
    /// Share 1 as a node in this process on `relay`.
    pub async fn cosigner(&self, relay: &str) -> NodeHandle {
        Node::start(NodeConfig::new(
            self.pkg.clone(),
            self.shares[1].secret.duplicate(),
            vec![relay.to_string()],
            Arc::new(MemoryNonceLedger::new()),
        ))
        .await
        .expect("co-signer")
    }
}

impl Group {
    /// Share `i`'s x-only key, as events and `/api/peers` name it (0: the box, 1: the co-signer).
    pub fn share_xonly(&self, i: usize) -> [u8; 32] {
        self.pkg
            .members
            .iter()
            .find(|m| m.idx == self.shares[i].idx)
            .map(|m| m.xonly())
            .expect("every share is a member")
    }
}

/// Imports share 0 of a group (a bfprofile from [`Group::profile`]) into the box at `a` as
/// keyset `id` (unattended) through `POST /api/keysets`, with the `Authorization` value `auth`.
pub async fn import_keyset(a: std::net::SocketAddr, auth: &str, id: &str, profile: &str) {
    let body = serde_json::json!({
        "id": id, "label": id, "share_cred": profile, "share_password": SHARE_PW,
        "mode": "unattended",
    });
    let r = super::post(
        a,
        "/api/keysets",
        &[("Authorization", auth)],
        &body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "import {id}: {}", r.body);
}
