//! `frostbox migrate`: legacy 1.0.x shares → a current-generation keyset with the same npub.
//!
//! stdin: the `bfgroup1…` and at least `threshold` `bfshare1…` strings (any whitespace between
//! them). The password for the new bfshares comes from `--password-file` or `FROSTBOX_PASSWORD`
//! (never argv; stdin carries the shares). The group secret exists only in zeroizing memory.
//! Exit codes: 0 ok, 1 runtime failure, 2 bad input.

use std::io::Read;

use zeroize::Zeroizing;

use crate::frostr::legacy::{self, GroupPackage, SharePackage};
use crate::vault::secret::SecretString;

const PASSWORD_ENV: &str = "FROSTBOX_PASSWORD";

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// Signatures needed in the new keyset (default: the legacy group's threshold).
    #[arg(long, short = 't')]
    pub threshold: Option<u16>,
    /// Shares in the new keyset (default: the legacy group's member count).
    #[arg(long, short = 'n')]
    pub count: Option<u16>,
    /// Group name stored in the new group package.
    #[arg(long, default_value = "frostbox")]
    pub name: String,
    /// File whose first line is the password that encrypts each new bfshare.
    /// Alternatively set FROSTBOX_PASSWORD.
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<String>,
    /// Relay URL written into each new bfshare (repeatable).
    #[arg(long = "relay", value_name = "URL")]
    pub relays: Vec<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A CLI failure with its exit code.
#[derive(Debug)]
pub struct Fail(pub i32, pub String);

fn bad(msg: impl Into<String>) -> Fail {
    Fail(2, msg.into())
}

pub fn run(a: MigrateArgs) -> i32 {
    let mut input = Zeroizing::new(String::new());
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("frostbox migrate: cannot read stdin: {e}");
        return 2;
    }
    match run_with(&a, &input) {
        Ok(out) => {
            print!("{}", out.as_str());
            0
        }
        Err(Fail(code, msg)) => {
            eprintln!("frostbox migrate: {msg}");
            code
        }
    }
}

/// Parsed stdin: the legacy group and its shares.
pub struct LegacyInput {
    pub group: GroupPackage,
    pub shares: Vec<SharePackage>,
}

/// Splits stdin into the bfgroup and bfshares; every token must be one of the two.
pub fn parse_input(text: &str) -> Result<LegacyInput, Fail> {
    let mut group = None;
    let mut shares = Vec::new();
    for tok in text.split_whitespace() {
        let lower = tok.to_ascii_lowercase();
        if lower.starts_with("bfgroup1") {
            if group.is_some() {
                return Err(bad("more than one bfgroup on stdin"));
            }
            group =
                Some(legacy::decode_group(tok).map_err(|e| bad(format!("invalid bfgroup: {e}")))?);
        } else if lower.starts_with("bfshare1") {
            let n = shares.len() + 1;
            shares.push(
                legacy::decode_share(tok)
                    .map_err(|e| bad(format!("invalid legacy bfshare #{n}: {e}")))?,
            );
        } else {
            return Err(bad(
                "stdin must hold only the legacy bfgroup1… and bfshare1… strings",
            ));
        }
    }
    let group = group.ok_or_else(|| bad("no bfgroup1… on stdin"))?;
    if shares.is_empty() {
        return Err(bad("no bfshare1… on stdin"));
    }
    Ok(LegacyInput { group, shares })
}

fn password(file: Option<&str>) -> Result<Option<SecretString>, Fail> {
    if let Some(p) = file {
        if p == "-" {
            return Err(bad(
                "--password-file - is not possible: stdin carries the shares",
            ));
        }
        let s = Zeroizing::new(
            std::fs::read_to_string(p).map_err(|e| bad(format!("cannot read {p}: {e}")))?,
        );
        let line = s.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(bad(format!("password file {p} is empty")));
        }
        return Ok(Some(SecretString::new(line.to_string())));
    }
    match std::env::var(PASSWORD_ENV) {
        Ok(v) if !v.is_empty() => Ok(Some(SecretString::new(v))),
        _ => Ok(None),
    }
}

/// The whole command on a given stdin text; returns what is printed on stdout.
pub fn run_with(a: &MigrateArgs, input: &str) -> Result<Zeroizing<String>, Fail> {
    let li = parse_input(input)?;
    let members = li.group.commits.len() as u32;
    let t = a.threshold.map(u32::from).unwrap_or(li.group.threshold);
    let n = a.count.map(u32::from).unwrap_or(members);
    if !(2..=1000).contains(&n) || t < 2 || t > n {
        return Err(bad(format!(
            "the new keyset must be k-of-n with 2 ≤ k ≤ n ≤ 1000 (got {t} of {n})"
        )));
    }
    let pw = password(a.password_file.as_deref())?.ok_or_else(|| {
        bad(format!(
            "a password is required: the new shares are printed as password-encrypted bfshares. \
             Give --password-file PATH or set {PASSWORD_ENV}."
        ))
    })?;
    let m = legacy::migrate(&li.shares, &li.group, t, n).map_err(|e| bad(e.to_string()))?;
    next_keyset(a, &m, &pw)
}

/// Splits the recovered even-y secret into a current-generation keyset and renders it.
fn next_keyset(
    _a: &MigrateArgs,
    _m: &legacy::migrate::MigratedKeyset,
    _pw: &SecretString,
) -> Result<Zeroizing<String>, Fail> {
    Err(Fail(
        1,
        "the current-generation dealer is not available in this build".into(),
    ))
}
