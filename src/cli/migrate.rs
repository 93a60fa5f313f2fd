//! `frostbox migrate`: legacy 1.0.x shares → a current-generation keyset with the same npub.
//!
//! stdin: the `bfgroup1…` and at least `threshold` `bfshare1…` strings (any whitespace between
//! them). The password for the new bfshares comes from `--password-file` or `FROSTBOX_PASSWORD`
//! (never argv; stdin carries the shares). The group secret exists only in zeroizing memory.
//! Exit codes: 0 ok, 1 runtime failure, 2 bad input.

use std::io::Read;

use zeroize::Zeroizing;

use crate::cli::keys::password_from;
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
    let pw = password_from(a.password_file.as_deref(), false)
        .map_err(bad)?
        .ok_or_else(|| {
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
    a: &MigrateArgs,
    m: &legacy::migrate::MigratedKeyset,
    pw: &SecretString,
) -> Result<Zeroizing<String>, Fail> {
    use crate::cli::keys::{encrypt_shares, npub, relays_or_default, shares_json};
    use crate::frostr::next::group::GroupPackage as NextGroup;
    use std::fmt::Write;

    if a.name.trim().is_empty() {
        return Err(bad("--name must not be empty"));
    }
    let relays = relays_or_default(&a.relays).map_err(bad)?;
    let ks = legacy::migrate::to_next(m).map_err(|e| Fail(1, e.to_string()))?;
    let group = NextGroup::from_keys(a.name.trim(), &ks.group);
    if group.group_pk != m.recovered.group_xonly {
        return Err(Fail(1, "new group key differs from the legacy npub".into()));
    }
    let shares = encrypt_shares(&ks.shares, &group, &relays, pw, false).map_err(|e| Fail(1, e))?;
    let gnpub = npub(&group.group_pk);
    let mut out = Zeroizing::new(String::new());
    if a.json {
        let v = serde_json::json!({
            "generation": "next",
            "migrated_from": "legacy-1.0.x",
            "npub_unchanged": true,
            "group_npub": gnpub,
            "legacy_group_pk": hex::encode(m.legacy_group_pk),
            "secret_negated": m.recovered.negated,
            "group_id": hex::encode(group.group_id()),
            "group_package": serde_json::to_value(&group).unwrap_or(serde_json::Value::Null),
            "shares": shares_json(&shares, false),
        });
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        );
    } else {
        let _ = writeln!(
            out,
            "# FROSTR group migrated from legacy 1.0.x to the current generation ({} of {})",
            m.threshold, m.count
        );
        let _ = writeln!(out, "group npub: {gnpub} (unchanged)");
        if m.recovered.negated {
            let _ = writeln!(
                out,
                "note: the legacy group key had odd y; the new shares hold the negated secret, \
                 which has the same npub"
            );
        }
        let _ = writeln!(out, "group pubkey: {}", hex::encode(group.group_pk));
        let _ = writeln!(out, "group id: {}", hex::encode(group.group_id()));
        let _ = writeln!(out);
        let _ = writeln!(out, "# group package (public; every member needs it)");
        let _ = writeln!(out, "{}", group.to_json_pretty());
        for s in &shares {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "# share {} (pubkey {}, profile {}); encrypted with your password",
                s.idx, s.pubkey_hex, s.profile_id
            );
            let _ = writeln!(out, "{}", s.credential);
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "# Retire every legacy bfshare of this group: devices still running 1.0.x keep leaking."
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frostr::legacy::math;
    use crate::frostr::next::credential::BfShare;

    fn args(pwfile: Option<String>, t: Option<u16>, n: Option<u16>) -> MigrateArgs {
        MigrateArgs {
            threshold: t,
            count: n,
            name: "migrated".into(),
            password_file: pwfile,
            relays: vec![],
            json: true,
        }
    }

    fn legacy_input(odd: bool) -> (String, [u8; 32]) {
        let (g, shares) = loop {
            let x = legacy::keygen(2, 3, None).expect("keygen");
            if math::has_even_y(&x.0.group_pk) != odd {
                break x;
            }
        };
        let text = format!(
            "{}\n{}\n  {}\n",
            shares[2].encode().as_str(),
            g.encode(),
            shares[0].encode().as_str()
        );
        (text, g.npub())
    }

    #[test]
    fn migrate_cli_keeps_npub_for_both_parities() {
        let dir = tempfile::tempdir().expect("tmp");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "correct horse\n").expect("write");
        for odd in [true, false] {
            let (text, npub) = legacy_input(odd);
            let out = run_with(&args(Some(pw.display().to_string()), None, Some(2)), &text)
                .map_err(|f| f.1)
                .expect("migrate");
            let v: serde_json::Value = serde_json::from_str(&out).expect("json");
            assert_eq!(v["group_npub"], crate::cli::keys::npub(&npub));
            assert_eq!(v["secret_negated"], odd);
            assert_eq!(v["group_package"]["threshold"], 2);
            let shares: Vec<crate::frost::KeyShare> = v["shares"]
                .as_array()
                .expect("shares")
                .iter()
                .map(|s| {
                    let b = BfShare::decode(s["bfshare"].as_str().expect("str"), "correct horse")
                        .expect("decrypt new bfshare");
                    crate::frost::KeyShare::new(
                        s["idx"].as_u64().expect("idx") as u16,
                        b.share_secret,
                    )
                })
                .collect();
            assert_eq!(shares.len(), 2);
            let secret = crate::frost::recover(&shares).expect("recover");
            assert_eq!(crate::frost::xonly(&secret).expect("xonly"), npub);
            // The wrong password does not open the new shares.
            assert!(
                BfShare::decode(v["shares"][0]["bfshare"].as_str().expect("s"), "wrong").is_err()
            );
        }
    }

    #[test]
    fn migrate_cli_rejects_bad_input() {
        let dir = tempfile::tempdir().expect("tmp");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "pw\n").expect("write");
        let pwf = Some(pw.display().to_string());
        let (text, _) = legacy_input(false);
        let one_share: String = text
            .lines()
            .skip(1)
            .take(1)
            .chain(text.lines().take(1).map(|_| ""))
            .collect::<Vec<_>>()
            .join("\n");
        let code = |r: Result<Zeroizing<String>, Fail>| r.err().map(|f| f.0);
        // only the group, no share
        assert_eq!(
            code(run_with(&args(pwf.clone(), None, None), &one_share)),
            Some(2)
        );
        // one share below threshold
        let lines: Vec<&str> = text.lines().collect();
        let below = format!("{}\n{}", lines[1], lines[0]);
        let r = run_with(&args(pwf.clone(), None, None), &below);
        assert!(
            r.as_ref()
                .err()
                .is_some_and(|f| f.0 == 2 && f.1.contains("not enough shares"))
        );
        // junk on stdin, a share from another group, bad threshold, stdin password
        assert_eq!(
            code(run_with(
                &args(pwf.clone(), None, None),
                &format!("{text} hello")
            )),
            Some(2)
        );
        let (other, _) = legacy_input(false);
        let mixed = format!(
            "{}\n{}\n{}",
            lines[1],
            lines[0],
            other.lines().next().expect("share")
        );
        assert_eq!(
            code(run_with(&args(pwf.clone(), None, None), &mixed)),
            Some(2)
        );
        assert_eq!(
            code(run_with(&args(pwf.clone(), Some(4), Some(3)), &text)),
            Some(2)
        );
        assert_eq!(
            code(run_with(&args(Some("-".into()), None, None), &text)),
            Some(2)
        );
    }
}
