//! The npm interop harnesses (tests/interop/<name>, committed lockfiles): their directory, and a
//! `node <script>` child whose stdout lines the test reads as they come.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// `tests/interop/<name>`, asserting `npm ci` has installed `package` there.
pub fn interop_dir(name: &str, package: &str) -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop")).join(name);
    assert!(
        dir.join("node_modules").join(package).exists(),
        "run `npm ci` in {} first",
        dir.display()
    );
    dir
}

/// A running `node <script>`: its stdout lines, the `RESULT …` lines and whether it printed `OK`.
pub struct Script {
    child: Child,
    rx: tokio::sync::mpsc::UnboundedReceiver<String>,
    until: tokio::time::Instant,
    timed_out: bool,
    /// The text after each `RESULT ` line, in order.
    pub results: Vec<String>,
    /// The script printed the line `OK`.
    pub ok: bool,
}

impl Drop for Script {
    fn drop(&mut self) {
        // Only our own child, by its handle.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `node <script>` in `dir` with `envs`; it may run for `limit` at the most.
pub fn node(dir: &std::path::Path, script: &str, envs: &[(&str, &str)], limit: Duration) -> Script {
    let mut cmd = Command::new("node");
    cmd.arg(script).current_dir(dir).stdout(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("node");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Script {
        child,
        rx,
        until: tokio::time::Instant::now() + limit,
        timed_out: false,
        results: Vec::new(),
        ok: false,
    }
}

impl Script {
    /// The next stdout line (echoed; `RESULT`/`OK` noted); `None` once the script closed its
    /// stdout or the time limit passed (then the script is killed and [`Script::finish`] fails).
    pub async fn line(&mut self) -> Option<String> {
        match tokio::time::timeout_at(self.until, self.rx.recv()).await {
            Ok(Some(line)) => {
                println!("node: {line}");
                if let Some(r) = line.strip_prefix("RESULT ") {
                    self.results.push(r.to_string());
                } else if line == "OK" {
                    self.ok = true;
                }
                Some(line)
            }
            Ok(None) => None,
            Err(_) => {
                self.timed_out = true;
                let _ = self.child.kill();
                None
            }
        }
    }

    /// Reads the remaining lines, waits for the exit and asserts the script finished in time,
    /// exited 0 and printed `OK`; `context` (e.g. a server log) is shown on a time-out.
    pub async fn finish(&mut self, context: impl Fn() -> String) -> ExitStatus {
        while self.line().await.is_some() {}
        let status = self.child.wait().expect("wait");
        assert!(!self.timed_out, "node test timed out{}", context());
        assert!(status.success() && self.ok, "node test failed ({status})");
        status
    }
}

/// tests/interop/nip46/test.mjs (nostr-tools' BunkerSigner) against a bunker: the `bunker://`
/// URI `good`, one with a wrong secret `bad`, the relay both talk on, the identity `group` the
/// bunker signs as, and `extra` variables (see test.mjs).
pub fn bunker_script(
    good: &str,
    bad: &str,
    relay: &str,
    group: &[u8; 32],
    extra: &[(&str, &str)],
    limit: Duration,
) -> Script {
    let dir = interop_dir("nip46", "nostr-tools");
    let gpk = hex::encode(group);
    let mut envs = vec![
        ("BUNKER_URI", good),
        ("BAD_URI", bad),
        ("RELAY_URL", relay),
        ("GROUP_PK", gpk.as_str()),
    ];
    envs.extend_from_slice(extra);
    node(&dir, "test.mjs", &envs, limit)
}
