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
        procs::show_log_if_failing(&self.0);
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
    import_labelled(a, auth, id, id, profile).await;
}

/// [`import_keyset`] with the label `label`; returns the response's `keyset` entry.
pub async fn import_labelled(
    a: std::net::SocketAddr,
    auth: &str,
    id: &str,
    label: &str,
    profile: &str,
) -> serde_json::Value {
    let body = serde_json::json!({
        "id": id, "label": label, "share_cred": profile, "share_password": SHARE_PW,
        "mode": "unattended",
    });
    post_keysets(a, auth, id, &body).await
}

/// `POST /api/keysets` of `body` (keyset `id`) must succeed; returns the `keyset` entry.
async fn post_keysets(
    a: std::net::SocketAddr,
    auth: &str,
    id: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    let r = super::post(
        a,
        "/api/keysets",
        &[("Authorization", auth)],
        &body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "import {id}: {}", r.body);
    r.json()["keyset"].clone()
}

/// A legacy (FROSTR 1.0.x) 2-of-3 group: the box imports share 0 (opted in), a legacy node in
/// this process holds share 1.
pub struct Legacy {
    pub group: frostbox::frostr::legacy::GroupPackage,
    pub shares: Vec<frostbox::frostr::legacy::SharePackage>,
}

impl Legacy {
    pub fn generate() -> Legacy {
        let (group, shares) = frostbox::frostr::legacy::keygen(2, 3, None).expect("legacy keygen");
        Legacy { group, shares }
    }
    /// The group's x-only key (its npub).
    pub fn pk(&self) -> [u8; 32] {
        self.group.npub()
    }
    /// Imports share 0 as legacy keyset `id` (unattended, `"legacy": true`) into the box at `a`
    /// through `POST /api/keysets` with the `Authorization` value `auth`.
    pub async fn import(&self, a: std::net::SocketAddr, auth: &str, id: &str) {
        let body = serde_json::json!({
            "id": id, "group_cred": self.group.encode(),
            "share_cred": self.shares[0].encode().as_str(),
            "mode": "unattended", "legacy": true,
        });
        let k = post_keysets(a, auth, id, &body).await;
        assert_eq!(k["legacy"], true, "{k}");
    }
    /// Share 1 as a legacy node on the embedded relay of the box at `a` (the relay a legacy
    /// keyset's node uses without RELAYS).
    pub async fn cosigner(&self, a: std::net::SocketAddr) -> frostbox::frostr::node::LegacyHandle {
        use frostbox::frostr::node::{LegacyConfig, LegacyNode};
        let mut cfg = LegacyConfig::new(
            self.group.clone(),
            self.shares[1].duplicate(),
            vec![format!("ws://{a}")],
        );
        cfg.label = "legacy-peer".into();
        LegacyNode::start(cfg).await.expect("legacy peer")
    }
}

/// Waits (≤ 40 s) until keysets `ids` of the box at `a` are ready (threshold reachable) and each
/// runs its bunker; returns each bunker's `/api/nip46/status`.
pub async fn wait_bunkers(
    a: std::net::SocketAddr,
    auth: &str,
    ids: &[&str],
) -> Vec<serde_json::Value> {
    let h = [("Authorization", auth)];
    let mut last = String::new();
    for _ in 0..400 {
        let list = super::get(a, "/api/keysets", &h).await.json();
        let ready = ids.iter().all(|id| {
            list["keysets"].as_array().is_some_and(|v| {
                v.iter()
                    .any(|k| k["id"] == serde_json::json!(id) && k["state"] == "ready")
            })
        });
        let mut out = Vec::new();
        for id in ids {
            let r = super::get(a, &format!("/api/nip46/status?keyset={id}"), &h).await;
            if r.status == 200 {
                out.push(r.json());
            } else {
                last = format!("{id}: {} {}", r.status, r.body);
            }
        }
        if ready && out.len() == ids.len() {
            return out;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("bunkers {ids:?} not running: {last}");
}
