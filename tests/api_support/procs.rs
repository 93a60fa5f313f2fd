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
    spawn_cmd(&[env!("CARGO_BIN_EXE_frostbox").to_string()], 0, data, envs)
}

/// A port that was free a moment ago (for a process that must come back on the same port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts `<cmd_line…> serve --port <port> --data <data>` (a frostbox binary, possibly behind a
/// runner such as qemu) with the inherited configuration variables removed and `envs` set;
/// waits (≤ 60 s) for the address it prints. Its stderr and stdout are kept in [`Proc::log`].
pub fn spawn_cmd(
    cmd_line: &[String],
    port: u16,
    data: &std::path::Path,
    envs: &[(&str, &str)],
) -> Proc {
    let mut cmd = Command::new(&cmd_line[0]);
    cmd.args(&cmd_line[1..])
        .args(["serve", "--port", &port.to_string(), "--data"])
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
    let addr = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(a) => a.parse().expect("addr"),
        Err(_) => panic!(
            "{cmd_line:?} did not print its address; log:\n{}",
            log.lock().map(|g| g.clone()).unwrap_or_default()
        ),
    };
    Proc { child, addr, log }
}

impl Proc {
    /// Everything the process has logged so far.
    pub fn log_text(&self) -> String {
        self.log.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// The log once it contains `what` (≤ 5 s): a line the process has written may still be on
    /// its way through the reader thread when the effect it logs is already visible over HTTP.
    pub async fn wait_log(&self, what: &str) -> String {
        let mut log = String::new();
        for _ in 0..100 {
            log = self.log_text();
            if log.contains(what) {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the log lacks {what:?}:\n{log}");
    }
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
    ClusterA::start(a_env).await.add_b(b_env, wait_a).await
}

/// The first half of a [`Cluster`]: `a` runs with share 1, `b` is not started yet (a test can
/// watch `a` before its peer ever comes up).
pub struct ClusterA {
    pub a: Proc,
    pub group_pk: [u8; 32],
    /// x-only pubkeys of members 1, 2, 3.
    pub members: Vec<[u8; 32]>,
    member_hex: Vec<String>,
    creds: Vec<String>,
    dir: tempfile::TempDir,
}

impl ClusterA {
    /// Starts `a` (with `a_env` added) and imports share 1 into it through `POST /api/keyset`.
    pub async fn start(a_env: EnvFn<'_>) -> ClusterA {
        let ks = frost::keygen(2, 3).expect("keygen");
        let group = GroupPackage::from_keys("cluster", &ks.group);
        let members: Vec<[u8; 32]> = group.members.iter().map(|m| m.xonly()).collect();
        let da = tempfile::tempdir().expect("tmp");
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
        let member_hex = group
            .members
            .iter()
            .map(|m| hex::encode(m.pubkey))
            .collect();
        ClusterA {
            a,
            group_pk: group.group_pk,
            members,
            member_hex,
            creds,
            dir: da,
        }
    }

    /// Starts `b` with share 2 (and `b_env`) on a's relay; waits for b's signer (and a's when
    /// `wait_a`) to report the threshold reachable.
    pub async fn add_b(self, b_env: EnvFn<'_>, wait_a: bool) -> Cluster {
        let db = tempfile::tempdir().expect("tmp");
        let relay = format!("ws://{}", self.a.addr);
        let mut env_b: Vec<(String, String)> = vec![
            ("ADMIN_SECRET".into(), CLUSTER_ADMIN.into()),
            ("RATE_LIMIT_ENABLED".into(), "false".into()),
            ("SHARE_CRED".into(), self.creds[1].clone()),
            ("SHARE_PASSWORD".into(), PROFILE_PW.into()),
            ("RELAYS".into(), relay),
        ];
        env_b.extend(b_env(&self.members));
        let eb: Vec<(&str, &str)> = env_b
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let b = spawn(db.path(), &eb);
        wait_signer(b.addr, "b").await;
        if wait_a {
            wait_signer(self.a.addr, "a").await;
        }
        Cluster {
            a: self.a,
            b,
            group_pk: self.group_pk,
            members: self.members,
            member_hex: self.member_hex,
            dirs: vec![self.dir, db],
        }
    }
}

/// `PUT /api/peers/{peer}/policy` on `addr` (cluster admin auth) with the JSON `body`; `peer` is
/// a member's key as the group lists it (compressed hex).
pub async fn put_policy(addr: SocketAddr, peer: &str, body: &str) -> super::Resp {
    let h = bearer();
    super::req(
        addr,
        "PUT",
        &format!("/api/peers/{peer}/policy"),
        &[("Authorization", &h)],
        Some(body),
    )
    .await
}

/// Prints `p`'s log when the current test is failing (the log never holds secrets: see
/// api_process).
pub fn show_log_if_failing(p: &Proc) {
    if std::thread::panicking() {
        eprintln!("--- frostbox serve log ---\n{}", p.log_text());
    }
}

/// A [`Proc`] that owns its data directory; a failing test shows its log.
pub struct Owned {
    pub p: Proc,
    _dir: tempfile::TempDir,
}

impl Owned {
    /// Runs `start` on a fresh temporary directory that lives as long as the process.
    pub fn in_tempdir(start: impl FnOnce(&std::path::Path) -> Proc) -> Owned {
        let dir = tempfile::tempdir().expect("tmp");
        Owned {
            p: start(dir.path()),
            _dir: dir,
        }
    }
}

impl std::ops::Deref for Owned {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.p
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        show_log_if_failing(&self.p);
    }
}
