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
