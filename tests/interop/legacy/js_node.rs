//! A real `@frostr/bifrost@1.0.7` `BifrostNode` (`tests/interop/legacy/node.mjs`) as a child
//! process: JSON commands on its stdin, JSON answers on its stdout. Shared by
//! `tests/interop_legacy_node.rs` and `examples/legacy_js_bench.rs` (`#[path]` include).
//!
//! Every wait has a deadline; a JS node that does not answer in time is a clear error, never a
//! hang. Needs `npm ci` in `tests/interop/legacy`.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Where `node.mjs` and its `node_modules` live.
pub fn interop_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/legacy"))
}

/// One `node.mjs` process. Killed on drop.
pub struct JsNode {
    pub name: String,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    /// x-only hex (its share's Nostr key).
    pub pubkey: String,
    next_id: u64,
    /// How long one command may take (the JS requests themselves time out after 5 s).
    pub call_timeout: Duration,
}

impl Drop for JsNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl JsNode {
    /// Starts a node for `group`/`share` (bfgroup / bfshare strings) on `relay` and waits until
    /// it has proven (echo through the relay) that it is connected.
    pub async fn spawn(
        name: &str,
        group: &str,
        share: &str,
        relay: &str,
    ) -> Result<JsNode, String> {
        let dir = interop_dir();
        if !dir.join("node_modules/@frostr/bifrost").is_dir() {
            return Err(format!("run `npm ci` in {} first", dir.display()));
        }
        let mut child = Command::new("node")
            .arg("node.mjs")
            .arg(group)
            .arg(share)
            .arg(relay)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{name}: cannot start `node node.mjs`: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(format!("{name}: no stdin/stdout pipe"));
        };
        let (tx, mut lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut node = JsNode {
            name: name.to_string(),
            child,
            stdin,
            lines: mpsc::unbounded_channel().1,
            pubkey: String::new(),
            next_id: 0,
            call_timeout: Duration::from_secs(15),
        };
        let first = match tokio::time::timeout(Duration::from_secs(30), lines.recv()).await {
            Ok(Some(l)) => l,
            Ok(None) => return Err(format!("{name}: exited before it was ready")),
            Err(_) => return Err(format!("{name}: not ready within 30 s")),
        };
        let v: Value =
            serde_json::from_str(&first).map_err(|e| format!("{name}: bad line {first:?}: {e}"))?;
        if v["event"] != "ready" {
            return Err(format!("{name}: did not start: {v}"));
        }
        node.pubkey = v["pubkey"]
            .as_str()
            .ok_or_else(|| format!("{name}: ready line without pubkey: {v}"))?
            .to_string();
        node.lines = lines;
        Ok(node)
    }

    /// Sends one command and returns its answer (`ok: true`), or why not.
    pub async fn call(&mut self, mut cmd: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        cmd["id"] = json!(id);
        let line = format!("{cmd}\n");
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|_| self.stdin.flush())
            .map_err(|e| format!("{}: write {cmd}: {e}", self.name))?;
        let deadline = tokio::time::Instant::now() + self.call_timeout;
        loop {
            let l = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(l)) => l,
                Ok(None) => return Err(format!("{}: exited during {cmd}", self.name)),
                Err(_) => {
                    return Err(format!(
                        "{}: no answer to {cmd} within {:?}",
                        self.name, self.call_timeout
                    ));
                }
            };
            let Ok(v) = serde_json::from_str::<Value>(&l) else {
                continue;
            };
            if v["id"] == json!(id) {
                if v["ok"] != true {
                    return Err(format!("{}: {cmd} failed: {v}", self.name));
                }
                return Ok(v);
            }
        }
    }

    /// Asks the node to close its relay connections and exit.
    pub fn quit(mut self) {
        let _ = self.stdin.write_all(b"{\"op\":\"quit\",\"id\":0}\n");
        let _ = self.stdin.flush();
        for _ in 0..20 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}
