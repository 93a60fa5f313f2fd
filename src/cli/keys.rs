//! `frostbox keygen | recover | inspect` for the current generation (FROSTR-NEXT).
//!
//! Secrets never come from argv: an nsec is read from a file or stdin, a password from
//! `--password-file` or the `FROSTBOX_PASSWORD` environment variable. Exit codes: 0 ok, 1
//! runtime failure, 2 bad input.

use std::io::Read;

use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::frost::{self, KeyShare};
use crate::frostr::next::credential::{self, BfOnboard, BfProfile, BfShare};
use crate::frostr::next::group::{GroupPackage, SharePackage, profile_id};
use crate::frostr::next::session::{PartialSigPackage, SignSessionPackage};
use crate::vault::secret::{Secret32, SecretString};

/// Relay written into credentials when none is given: Frostbox's own relay on the default port.
pub const DEFAULT_RELAY: &str = "ws://127.0.0.1:8002";
const PASSWORD_ENV: &str = "FROSTBOX_PASSWORD";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generation {
    /// Current generation (bifrost-rs / FROSTR-NEXT), the default.
    Next,
    /// Legacy 1.0.x (leaks shares, see FROSTR.md §0.2); opt-in only.
    Legacy,
}

#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Signatures needed (k).
    #[arg(long, short = 't')]
    pub threshold: u16,
    /// Shares to create (n).
    #[arg(long, short = 'n')]
    pub count: u16,
    /// Group name stored in the group package.
    #[arg(long, default_value = "frostbox")]
    pub name: String,
    /// Split an existing key: file holding an nsec (bech32 or 64 hex), or `-` for stdin.
    /// Without it a fresh random key is generated. Never pass the key itself on the command line.
    #[arg(long, value_name = "PATH|-")]
    pub nsec_file: Option<String>,
    /// File whose first line is the password that encrypts each bfshare (`-` = stdin).
    /// Alternatively set FROSTBOX_PASSWORD. Required: current-generation shares are only ever
    /// printed password-encrypted.
    #[arg(long, value_name = "PATH|-")]
    pub password_file: Option<String>,
    /// Relay URL written into each bfshare (repeatable).
    #[arg(long = "relay", value_name = "URL")]
    pub relays: Vec<String>,
    /// Package generation.
    #[arg(long, value_enum, default_value = "next")]
    pub generation: Generation,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print each share as a bfprofile (share + group package + relays, encrypted with the
    /// password): what `frostbox serve` imports to run a signer. Default: bfshare strings.
    #[arg(long)]
    pub profile: bool,
}

#[derive(clap::Args, Debug)]
pub struct RecoverArgs {
    /// Group package JSON file, used to find each bfshare's index and to check the result.
    /// A group package or a bfprofile on stdin works too.
    #[arg(long, value_name = "PATH")]
    pub group: Option<String>,
    /// File whose first line is the password of the credentials (`-` not allowed: stdin carries
    /// the shares). Alternatively FROSTBOX_PASSWORD, or a line on stdin that is not a share.
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// A bfshare / bfonboard / bfprofile string, or a group, share, session, partial-signature
    /// or ECDH package JSON; `-` reads it from stdin.
    pub input: String,
    /// Password file to decrypt credentials (or FROSTBOX_PASSWORD). Without one, only the
    /// envelope metadata of an encrypted credential is shown.
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<String>,
}

/// A CLI failure with its exit code.
struct Fail(i32, String);

fn bad(msg: impl Into<String>) -> Fail {
    Fail(2, msg.into())
}
fn runtime(msg: impl Into<String>) -> Fail {
    Fail(1, msg.into())
}

fn finish(r: Result<(), Fail>, cmd: &str) -> i32 {
    match r {
        Ok(()) => 0,
        Err(Fail(code, msg)) => {
            eprintln!("frostbox {cmd}: {msg}");
            code
        }
    }
}

fn read_source(path: &str) -> Result<Zeroizing<String>, Fail> {
    let mut s = Zeroizing::new(String::new());
    if path == "-" {
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| bad(format!("cannot read stdin: {e}")))?;
    } else {
        let mut f =
            std::fs::File::open(path).map_err(|e| bad(format!("cannot open {path}: {e}")))?;
        f.read_to_string(&mut s)
            .map_err(|e| bad(format!("cannot read {path}: {e}")))?;
    }
    Ok(s)
}

/// Password from a file (first line, line ending stripped) or the environment.
fn password(file: Option<&str>) -> Result<Option<SecretString>, Fail> {
    password_from(file, true).map_err(bad)
}

/// Password from `file` (first line, line ending stripped; `-` = stdin when `stdin_ok`) or
/// `FROSTBOX_PASSWORD`. Shared by `keygen`, `recover`, `inspect` and `migrate`.
pub(crate) fn password_from(
    file: Option<&str>,
    stdin_ok: bool,
) -> Result<Option<SecretString>, String> {
    if let Some(p) = file {
        if p == "-" && !stdin_ok {
            return Err("--password-file - is not possible: stdin carries the shares".into());
        }
        let s = read_source(p).map_err(|Fail(_, m)| m)?;
        let line = s.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(format!("password file {p} is empty"));
        }
        return Ok(Some(SecretString::new(line.to_string())));
    }
    match std::env::var(PASSWORD_ENV) {
        Ok(v) if !v.is_empty() => Ok(Some(SecretString::new(v))),
        _ => Ok(None),
    }
}

/// Relays written into new credentials: the given ones (trimmed, empty dropped), or
/// [`DEFAULT_RELAY`] when none were given.
pub(crate) fn relays_or_default(given: &[String]) -> Result<Vec<String>, String> {
    if given.is_empty() {
        return Ok(vec![DEFAULT_RELAY.to_string()]);
    }
    let relays: Vec<String> = given
        .iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    if relays.is_empty() {
        return Err("--relay must not be empty".into());
    }
    Ok(relays)
}

/// One new share of a current-generation keyset, encrypted with the user's password.
pub(crate) struct NewShare {
    pub idx: u16,
    /// `bfshare1…`, or `bfprofile1…` (share + group + relays) when asked for profiles.
    pub credential: String,
    pub profile_id: String,
    pub pubkey_hex: String,
}

/// Encrypts every share of `shares` as a bfshare (or, with `profiles`, a bfprofile carrying
/// the group too: what `frostbox serve` imports).
pub(crate) fn encrypt_shares(
    shares: &[KeyShare],
    group: &GroupPackage,
    relays: &[String],
    pw: &SecretString,
    profiles: bool,
) -> Result<Vec<NewShare>, String> {
    let mut out = Vec::with_capacity(shares.len());
    for s in shares {
        let x = frost::xonly(&s.secret).map_err(|e| e.to_string())?;
        let credential = if profiles {
            BfProfile::new(
                &format!("share {}", s.idx),
                s.secret.duplicate(),
                relays.to_vec(),
                vec![],
                group.clone(),
            )
            .and_then(|p| p.encode(pw.expose()))
        } else {
            BfShare {
                share_secret: s.secret.duplicate(),
                relays: relays.to_vec(),
            }
            .encode(pw.expose())
        }
        .map_err(|e| e.to_string())?;
        out.push(NewShare {
            idx: s.idx,
            credential,
            profile_id: profile_id(&x),
            pubkey_hex: hex::encode(x),
        });
    }
    Ok(out)
}

/// The `shares` array of the `--json` output.
pub(crate) fn shares_json(shares: &[NewShare], profiles: bool) -> Value {
    let key = if profiles { "bfprofile" } else { "bfshare" };
    Value::Array(
        shares
            .iter()
            .map(|s| json!({"idx": s.idx, "pubkey": s.pubkey_hex, "profile_id": s.profile_id, key: s.credential}))
            .collect(),
    )
}

/// Parses an nsec (bech32 `nsec1…`) or 64 hex characters.
pub fn parse_nsec(s: &str) -> Option<Secret32> {
    let t = s.trim();
    if t.len() == 64 {
        return Secret32::from_hex(t);
    }
    let (hrp, data) = bech32::decode(t).ok()?;
    if hrp.as_str() != "nsec" {
        return None;
    }
    let s = Secret32::from_slice(&data);
    let mut data = data;
    zeroize::Zeroize::zeroize(&mut data);
    s
}

fn nip19(hrp: &str, data: &[u8; 32]) -> String {
    bech32::Hrp::parse(hrp)
        .ok()
        .and_then(|h| bech32::encode::<bech32::Bech32>(h, data).ok())
        .unwrap_or_default()
}

/// `npub1…` of an x-only key.
pub fn npub(xonly: &[u8; 32]) -> String {
    nip19("npub", xonly)
}

// ---- keygen ---------------------------------------------------------------------------------

/// Legacy 1.0.x keygen (for groups that must still talk to igloo-server / Frost2x): unencrypted
/// `bfgroup` + `bfshare` strings, with the share-leak warning on stderr.
fn legacy_keygen(a: &KeygenArgs) -> Result<(), Fail> {
    use crate::frostr::legacy;
    eprintln!("WARNING: {}", legacy::LEGACY_WARNING);
    let nsec = match &a.nsec_file {
        Some(path) => Some(
            parse_nsec(&read_source(path)?)
                .ok_or_else(|| bad("the nsec file does not hold an nsec1… or 64-hex secret key"))?,
        ),
        None => None,
    };
    let (group, shares) = legacy::keygen(a.threshold as u32, a.count as u32, nsec.as_ref())
        .map_err(|e| runtime(format!("legacy keygen: {e}")))?;
    println!("npub: {}", npub(&group.npub()));
    println!("group: {}", group.encode());
    for s in &shares {
        println!("share: {}", s.encode().as_str());
    }
    Ok(())
}

pub fn keygen(a: KeygenArgs) -> i32 {
    finish(keygen_inner(a), "keygen")
}

fn keygen_inner(a: KeygenArgs) -> Result<(), Fail> {
    if a.count < 2 || a.count > 1000 {
        return Err(bad(format!("--count must be 2…1000 (got {})", a.count)));
    }
    if a.threshold < 2 || a.threshold > a.count {
        return Err(bad(format!(
            "--threshold must be 2…count (got {} of {})",
            a.threshold, a.count
        )));
    }
    if a.generation == Generation::Legacy {
        return legacy_keygen(&a);
    }
    if a.name.trim().is_empty() {
        return Err(bad("--name must not be empty"));
    }
    if a.nsec_file.as_deref() == Some("-") && a.password_file.as_deref() == Some("-") {
        return Err(bad(
            "only one of --nsec-file and --password-file can read stdin",
        ));
    }
    let relays = relays_or_default(&a.relays).map_err(bad)?;
    let pw = password(a.password_file.as_deref())?.ok_or_else(|| {
        bad(format!(
            "a password is required: every share is printed as a password-encrypted bfshare. \
             Give --password-file PATH (or -) or set {PASSWORD_ENV}."
        ))
    })?;
    let keyset = match &a.nsec_file {
        Some(path) => {
            let text = read_source(path)?;
            let nsec = parse_nsec(&text)
                .ok_or_else(|| bad("the nsec file does not hold an nsec1… or 64-hex secret key"))?;
            frost::split(&nsec, a.threshold, a.count).map_err(|e| bad(e.to_string()))?
        }
        None => frost::keygen(a.threshold, a.count).map_err(|e| runtime(e.to_string()))?,
    };
    let group = GroupPackage::from_keys(a.name.trim(), &keyset.group);
    let shares =
        encrypt_shares(&keyset.shares, &group, &relays, &pw, a.profile).map_err(runtime)?;
    let gnpub = npub(&group.group_pk);
    if a.json {
        let out = json!({
            "generation": "next",
            "group_npub": gnpub,
            "group_id": hex::encode(group.group_id()),
            "group_package": serde_json::to_value(&group).unwrap_or(Value::Null),
            "shares": shares_json(&shares, a.profile),
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!(
            "# FROSTR group ({} of {}), current generation",
            a.threshold, a.count
        );
        println!("group npub: {gnpub}");
        println!("group pubkey: {}", hex::encode(group.group_pk));
        println!("group id: {}", hex::encode(group.group_id()));
        println!();
        println!("# group package (public; every member needs it)");
        println!("{}", group.to_json_pretty());
        let what = if a.profile { "bfprofile" } else { "bfshare" };
        for s in &shares {
            println!();
            println!(
                "# share {} (pubkey {}, profile {}): {what}, encrypted with your password",
                s.idx, s.pubkey_hex, s.profile_id
            );
            println!("{}", s.credential);
        }
    }
    Ok(())
}

// ---- recover --------------------------------------------------------------------------------

enum Item {
    Cred(String),
    Json(Value),
    Other(Zeroizing<String>),
}

/// Splits stdin into credential strings, JSON documents (possibly multi-line) and other lines.
fn tokenize(text: &str) -> Result<Vec<Item>, Fail> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if rest.starts_with('{') || rest.starts_with('[') {
            let mut it = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
            match it.next() {
                Some(Ok(v)) => {
                    let off = it.byte_offset();
                    out.push(Item::Json(v));
                    rest = &rest[off..];
                    continue;
                }
                _ => return Err(bad("stdin holds malformed JSON")),
            }
        }
        let (line, tail) = rest.split_once('\n').unwrap_or((rest, ""));
        let l = line.trim();
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("bfshare1")
            || lower.starts_with("bfonboard1")
            || lower.starts_with("bfprofile1")
        {
            out.push(Item::Cred(l.to_string()));
        } else if !l.is_empty() {
            out.push(Item::Other(Zeroizing::new(
                line.trim_end_matches('\r').to_string(),
            )));
        }
        rest = tail;
    }
    Ok(out)
}

pub fn recover(a: RecoverArgs) -> i32 {
    finish(recover_inner(a), "recover")
}

fn recover_inner(a: RecoverArgs) -> Result<(), Fail> {
    if a.password_file.as_deref() == Some("-") {
        return Err(bad(
            "--password-file - is not possible: stdin carries the shares",
        ));
    }
    let mut group: Option<GroupPackage> = match &a.group {
        Some(p) => {
            Some(GroupPackage::from_json(&read_source(p)?).map_err(|e| bad(format!("{p}: {e}")))?)
        }
        None => None,
    };
    let mut pw = password(a.password_file.as_deref())?;
    let text = read_source("-")?;
    let items = tokenize(&text)?;
    let mut creds = Vec::new();
    let mut packages: Vec<KeyShare> = Vec::new();
    for it in items {
        match it {
            Item::Cred(c) => creds.push(c),
            Item::Json(v) if v.get("group_pk").is_some() => {
                let g = GroupPackage::from_json(&v.to_string()).map_err(|e| bad(e.to_string()))?;
                group = Some(g);
            }
            Item::Json(v) if v.get("seckey").is_some() => {
                let s = Zeroizing::new(v.to_string());
                let p = SharePackage::from_json(&s).map_err(|e| bad(e.to_string()))?;
                packages.push(p.to_key_share());
            }
            Item::Json(_) => {
                return Err(bad(
                    "stdin JSON is neither a group package nor a share package",
                ));
            }
            Item::Other(line) => {
                if pw.is_none() {
                    pw = Some(SecretString::new(line.to_string()));
                } else {
                    return Err(bad(
                        "stdin has a line that is not a share, and the password is already set",
                    ));
                }
            }
        }
    }
    let mut secrets: Vec<Secret32> = Vec::new();
    if !creds.is_empty() {
        let pw = pw.as_ref().ok_or_else(|| {
            bad(format!(
                "credentials need a password: --password-file, {PASSWORD_ENV}, or a line on stdin"
            ))
        })?;
        for c in &creds {
            let lower = c.to_ascii_lowercase();
            let sec = if lower.starts_with("bfshare1") {
                BfShare::decode(c, pw.expose())
                    .map_err(|e| bad(e.to_string()))?
                    .share_secret
            } else if lower.starts_with("bfonboard1") {
                BfOnboard::decode(c, pw.expose())
                    .map_err(|e| bad(e.to_string()))?
                    .share_secret
            } else {
                let p = BfProfile::decode(c, pw.expose()).map_err(|e| bad(e.to_string()))?;
                if group.is_none() {
                    group = Some(p.group_package.clone());
                }
                p.device.share_secret.duplicate()
            };
            secrets.push(sec);
        }
    }
    if !secrets.is_empty() {
        let g = group.as_ref().ok_or_else(|| {
            bad("bfshare strings carry no index: give the group package (--group FILE, on stdin, or a bfprofile)")
        })?;
        for s in secrets {
            let idx = g
                .find_share(&s)
                .map_err(|_| bad("a share is not a member of the given group"))?;
            packages.push(KeyShare::new(idx, s));
        }
    }
    packages.sort_by_key(|k| k.idx);
    if packages.windows(2).any(|w| w[0].idx == w[1].idx) {
        return Err(bad("the same share was given twice"));
    }
    if let Some(g) = group
        .as_ref()
        .filter(|g| packages.len() < g.threshold as usize)
    {
        return Err(bad(format!(
            "need {} shares, got {}",
            g.threshold,
            packages.len()
        )));
    }
    if packages.len() < 2 {
        return Err(bad(format!(
            "need at least 2 shares, got {}",
            packages.len()
        )));
    }
    let (nsec, checked) = match &group {
        Some(g) => (
            frost::keys::recover_checked(&packages, &g.group_pk)
                .map_err(|e| bad(format!("{e} (wrong or too few shares?)")))?,
            true,
        ),
        None => (
            frost::recover(&packages).map_err(|e| bad(e.to_string()))?,
            false,
        ),
    };
    let x = frost::xonly(&nsec).map_err(|e| runtime(e.to_string()))?;
    let nsec_b32 = Zeroizing::new(nip19("nsec", nsec.expose()));
    if a.json {
        let out = json!({"nsec": nsec_b32.as_str(), "npub": npub(&x), "pubkey": hex::encode(x), "checked_against_group": checked});
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!("nsec: {}", nsec_b32.as_str());
        println!("npub: {}", npub(&x));
        if !checked {
            eprintln!(
                "frostbox recover: warning: no group package given, the result is not checked \
                 (with fewer than threshold shares it is a wrong key)"
            );
        }
    }
    Ok(())
}

// ---- inspect --------------------------------------------------------------------------------

const REDACTED: &str = "<redacted>";

pub fn inspect(a: InspectArgs) -> i32 {
    finish(inspect_inner(a), "inspect")
}

fn share_summary(secret: &Secret32) -> Value {
    match frost::xonly(secret) {
        Ok(x) => {
            json!({"share_secret": REDACTED, "share_pubkey": hex::encode(x), "profile_id": profile_id(&x)})
        }
        Err(_) => json!({"share_secret": REDACTED, "error": "secret is not a valid scalar"}),
    }
}

fn group_summary(g: &GroupPackage) -> Value {
    json!({
        "type": "group_package",
        "group_name": g.group_name,
        "group_pk": hex::encode(g.group_pk),
        "group_npub": npub(&g.group_pk),
        "group_id": hex::encode(g.group_id()),
        "threshold": g.threshold,
        "members": g.members.iter().map(|m| json!({"idx": m.idx, "pubkey": hex::encode(m.pubkey), "profile_id": profile_id(&m.xonly())})).collect::<Vec<_>>(),
    })
}

fn inspect_inner(a: InspectArgs) -> Result<(), Fail> {
    let input = if a.input == "-" {
        read_source("-")?
    } else {
        Zeroizing::new(a.input.clone())
    };
    let t = input.trim();
    let out = if t.starts_with('{') {
        inspect_json(t)?
    } else {
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("nsec1") {
            return Err(bad(
                "that is a secret key (nsec); not printing anything about it here",
            ));
        }
        let info = credential::peek(t).map_err(|e| bad(e.to_string()))?;
        let meta = json!({
            "version": info.envelope.version,
            "password_encoding": info.envelope.password_encoding,
            "iterations": info.envelope.iterations,
            "iv_bytes": info.envelope.iv_bytes,
            "salt_hex": info.envelope.salt_hex,
            "ciphertext_bytes": info.envelope.ct_len(),
        });
        let mut v = json!({"type": info.hrp, "string_len": info.string_len, "envelope": meta});
        if let Some(pid) = &info.profile_id {
            v["profile_id"] = json!(pid);
        }
        match password(a.password_file.as_deref())? {
            None => {
                v["decrypted"] = json!(false);
                v["note"] = json!(format!(
                    "encrypted; give --password-file or {PASSWORD_ENV} to decrypt"
                ));
            }
            Some(pw) => {
                v["decrypted"] = json!(true);
                match info.hrp.as_str() {
                    credential::HRP_SHARE => {
                        let s = BfShare::decode(t, pw.expose()).map_err(|e| bad(e.to_string()))?;
                        v["share"] = share_summary(&s.share_secret);
                        v["relays"] = json!(s.relays);
                    }
                    credential::HRP_ONBOARD => {
                        let s =
                            BfOnboard::decode(t, pw.expose()).map_err(|e| bad(e.to_string()))?;
                        v["share"] = share_summary(&s.share_secret);
                        v["relays"] = json!(s.relays);
                        v["peer_pk"] = json!(hex::encode(s.peer_pk));
                    }
                    _ => {
                        let p =
                            BfProfile::decode(t, pw.expose()).map_err(|e| bad(e.to_string()))?;
                        let idx = p.group_package.find_share(&p.device.share_secret).ok();
                        v["device"] = json!({
                            "name": p.device.name,
                            "share": share_summary(&p.device.share_secret),
                            "idx": idx,
                            "manual_peer_policy_overrides": serde_json::to_value(&p.device.manual_peer_policy_overrides).unwrap_or(Value::Null),
                            "relays": p.device.relays,
                        });
                        v["group_package"] = group_summary(&p.group_package);
                    }
                }
            }
        }
        v
    };
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}

fn inspect_json(t: &str) -> Result<Value, Fail> {
    let v: Value = serde_json::from_str(t).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    if v.get("group_pk").is_some() {
        let g = GroupPackage::from_json(t).map_err(|e| bad(e.to_string()))?;
        return Ok(group_summary(&g));
    }
    if v.get("seckey").is_some() {
        let p = SharePackage::from_json(t).map_err(|e| bad(e.to_string()))?;
        let mut s = share_summary(&p.seckey);
        s["type"] = json!("share_package");
        s["idx"] = json!(p.idx);
        return Ok(s);
    }
    if v.get("gid").is_some() {
        let s = SignSessionPackage::from_json(t).map_err(|e| bad(e.to_string()))?;
        let mut out = serde_json::to_value(&s).unwrap_or(Value::Null);
        out["type"] = json!("sign_session_package");
        out["sid_matches_contents"] = json!(s.compute_sid() == s.sid);
        return Ok(out);
    }
    if v.get("psigs").is_some() {
        let p = PartialSigPackage::from_json(t).map_err(|e| bad(e.to_string()))?;
        let mut out = serde_json::to_value(&p).unwrap_or(Value::Null);
        out["type"] = json!("partial_sig_package");
        return Ok(out);
    }
    if v.get("entries").is_some() {
        let p =
            crate::frostr::next::ecdh::EcdhPackage::from_json(t).map_err(|e| bad(e.to_string()))?;
        let mut out = serde_json::to_value(&p).unwrap_or(Value::Null);
        out["type"] = json!("ecdh_package");
        return Ok(out);
    }
    Err(bad(
        "unrecognised JSON: not a group, share, session, partial-signature or ECDH package",
    ))
}
