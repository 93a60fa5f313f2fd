//! The real `frostbox serve` binary as a child process, and a two-node cluster of it: a 2-of-3
//! current-generation group whose first two shares run in two processes that both use the first
//! process's embedded relay (the third member stays offline).

use super::{get, post};
use frostbox::frost;
use frostbox::frostr::next::credential::BfProfile;
use frostbox::frostr::next::group::GroupPackage;
use serde_json::json;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<String>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Only our own child, by its handle.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `frostbox serve --port 0 --data <data>` with `envs`, waits for its address.
pub fn spawn(data: &std::path::Path, envs: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_frostbox"));
    cmd.args(["serve", "--port", "0", "--data"])
        .arg(data)
        .env_remove("ADMIN_SECRET")
        .env_remove("API_KEY")
        .env_remove("FROSTBOX_DATA")
        .env_remove("RELAYS")
        .env_remove("SHARE_CRED")
        .env_remove("GROUP_CRED")
        .env_remove("PEER_POLICIES")
        .env_remove("FROSTR_LEGACY")
        .env_remove("JOURNAL_STREAM")
        .env_remove("LOG_FORMAT")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn frostbox");
    let stderr = child.stderr.take().expect("stderr");
    let mut stdout = child.stdout.take().expect("stdout");
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let l2 = log.clone();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on http://").nth(1)
                && let (Some(t), Some(a)) = (tx.take(), rest.split_whitespace().next())
            {
                let _ = t.send(a.to_string());
            }
            if let Ok(mut g) = l2.lock() {
                g.push_str(&line);
                g.push('\n');
            }
        }
    });
    let l3 = log.clone();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        if let Ok(mut g) = l3.lock() {
            g.push_str(&s);
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("frostbox printed its address")
        .parse()
        .expect("addr");
    Proc { child, addr, log }
}

/// SIGTERM, then waits (≤ 10 s) for the exit; returns the exit code and how long it took.
pub fn sigterm_and_wait(p: &mut Proc) -> (i32, Duration) {
    let t0 = Instant::now();
    let st = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    loop {
        if let Some(s) = p.child.try_wait().expect("wait") {
            return (s.code().unwrap_or(-1), t0.elapsed());
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub const CLUSTER_ADMIN: &str = "cluster-admin-secret-4b8d1e";
pub const PROFILE_PW: &str = "profile-pass-cluster-1";

pub fn bearer() -> String {
    format!("Bearer {CLUSTER_ADMIN}")
}

/// Two running signers of one 2-of-3 group.
pub struct Cluster {
    /// Holds share 1; its embedded relay carries the group's traffic.
    pub a: Proc,
    /// Holds share 2; started with `SHARE_CRED` and `RELAYS` = a's relay.
    pub b: Proc,
    pub group_pk: [u8; 32],
    /// x-only pubkeys of members 1, 2, 3.
    pub members: Vec<[u8; 32]>,
    /// Compressed pubkey hex of each member as the group package lists it.
    pub member_hex: Vec<String>,
    pub dirs: Vec<tempfile::TempDir>,
}

fn profiles(ks: &frost::Keyset, group: &GroupPackage, relay: &str) -> Vec<String> {
    ks.shares
        .iter()
        .take(2)
        .map(|s| {
            BfProfile::new(
                &format!("dev{}", s.idx),
                s.secret.duplicate(),
                vec![relay.to_string()],
                vec![],
                group.clone(),
            )
            .expect("profile")
            .encode(PROFILE_PW)
            .expect("encode")
        })
        .collect()
}

/// Waits until `/api/status` on `addr` reports the node active with the threshold reachable.
pub async fn wait_signer(addr: SocketAddr, what: &str) {
    let h = bearer();
    let t0 = Instant::now();
    loop {
        let v = get(addr, "/api/status", &[("Authorization", &h)])
            .await
            .json();
        if v["nodeActive"] == true && v["thresholdReachable"] == true {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{what}: signer not ready: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Extra environment for one process, given the members' x-only keys (1, 2, 3).
pub type EnvFn<'a> = &'a dyn Fn(&[[u8; 32]]) -> Vec<(String, String)>;

/// Starts the cluster with fixed extra environment variables; waits for both signers.
pub async fn cluster(a_env: &[(&str, &str)], b_env: &[(&str, &str)]) -> Cluster {
    let own = |e: &[(&str, &str)]| -> Vec<(String, String)> {
        e.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let (ea, eb) = (own(a_env), own(b_env));
    cluster_with(&|_| ea.clone(), &|_| eb.clone(), true).await
}

/// Starts the cluster. Share 1 is imported into `a` through `POST /api/keyset` (unattended);
/// `b` gets share 2 through `SHARE_CRED`/`SHARE_PASSWORD` and `RELAYS` = a's relay. Waits for
/// b's signer (and a's when `wait_a`) to report the threshold reachable.
pub async fn cluster_with(a_env: EnvFn<'_>, b_env: EnvFn<'_>, wait_a: bool) -> Cluster {
    let ks = frost::keygen(2, 3).expect("keygen");
    let group = GroupPackage::from_keys("cluster", &ks.group);
    let members: Vec<[u8; 32]> = group.members.iter().map(|m| m.xonly()).collect();
    let da = tempfile::tempdir().expect("tmp");
    let db = tempfile::tempdir().expect("tmp");
    let mut env_a: Vec<(String, String)> = vec![
        ("ADMIN_SECRET".into(), CLUSTER_ADMIN.into()),
        ("RATE_LIMIT_ENABLED".into(), "false".into()),
    ];
    env_a.extend(a_env(&members));
    let ea: Vec<(&str, &str)> = env_a
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let a = spawn(da.path(), &ea);
    let relay = format!("ws://{}", a.addr);
    let creds = profiles(&ks, &group, &relay);
    let h = bearer();
    let r = post(
        a.addr,
        "/api/keyset",
        &[("Authorization", &h)],
        &json!({ "share_cred": creds[0], "share_password": PROFILE_PW, "mode": "unattended" })
            .to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "keyset import: {}", r.body);
    let mut env_b: Vec<(String, String)> = vec![
        ("ADMIN_SECRET".into(), CLUSTER_ADMIN.into()),
        ("RATE_LIMIT_ENABLED".into(), "false".into()),
        ("SHARE_CRED".into(), creds[1].clone()),
        ("SHARE_PASSWORD".into(), PROFILE_PW.into()),
        ("RELAYS".into(), relay.clone()),
    ];
    env_b.extend(b_env(&members));
    let eb: Vec<(&str, &str)> = env_b
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let b = spawn(db.path(), &eb);
    wait_signer(b.addr, "b").await;
    if wait_a {
        wait_signer(a.addr, "a").await;
    }
    let member_hex = group
        .members
        .iter()
        .map(|m| hex::encode(m.pubkey))
        .collect();
    Cluster {
        a,
        b,
        group_pk: group.group_pk,
        members,
        member_hex,
        dirs: vec![da, db],
    }
}
