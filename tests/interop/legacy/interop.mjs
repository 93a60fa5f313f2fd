// Frostbox <-> @frostr/bifrost 1.0.7 interop driver. Reads one JSON request on stdin, writes one
// JSON answer on stdout. Any rejection by the JS library exits non-zero with the reason on stderr,
// so the Rust test fails when the JS side rejects.
import { PackageEncoder, Lib } from '@frostr/bifrost'
import { schnorr } from '@noble/curves/secp256k1'

function fail (msg) {
  process.stderr.write('interop.mjs: ' + msg + '\n')
  process.exit(1)
}

function read_stdin () {
  return new Promise((resolve, reject) => {
    let buf = ''
    process.stdin.setEncoding('utf8')
    process.stdin.on('data', c => { buf += c })
    process.stdin.on('end', () => resolve(buf))
    process.stdin.on('error', reject)
  })
}

function decode (req) {
  const group = PackageEncoder.group.decode(req.group)
  const shares = (req.shares ?? []).map(s => PackageEncoder.share.decode(s))
  for (const s of shares) {
    if (!Lib.is_group_member(group, s)) fail('share ' + s.idx + ' is not a member of the group')
  }
  return { group, shares }
}

function verify_all (ctx, pkgs) {
  for (const pkg of pkgs) {
    const err = Lib.verify_psig_pkg(ctx, pkg)
    if (err !== null) fail('partial signature package of member ' + pkg.idx + ' rejected: ' + err)
  }
  const sigs = Lib.combine_signature_pkgs(ctx, pkgs)
  for (const [sighash, pubkey, sig] of sigs) {
    if (!schnorr.verify(sig, sighash, pubkey.slice(2))) fail('aggregate signature does not verify for ' + sighash)
  }
  return sigs
}

const req = JSON.parse(await read_stdin())
let out
switch (req.mode) {
  case 'keygen': {
    // The npm dealer (random secret, random nonce seeds).
    const pkg = Lib.generate_dealer_pkg(req.threshold, req.count)
    out = {
      group: PackageEncoder.group.encode(pkg.group),
      shares: pkg.shares.map(s => PackageEncoder.share.encode(s)),
      group_json: pkg.group,
      gid: Lib.get_group_id(pkg.group)
    }
    break
  }
  case 'decode': {
    const { group, shares } = decode(req)
    out = {
      group_json: group,
      shares_json: shares,
      gid: Lib.get_group_id(group),
      reencoded_group: PackageEncoder.group.encode(group),
      reencoded_shares: shares.map(s => PackageEncoder.share.encode(s)),
      recovered: shares.length >= group.threshold ? Lib.recover_secret_key(group, shares) : null
    }
    break
  }
  case 'sign': {
    // Build the session the way a JS requester does and sign with the given shares; when every
    // member's share is present, verify all packages, combine and BIP-340-verify the result.
    const { group, shares } = decode(req)
    const tmpl = Lib.create_session_template(req.members, req.hashes, { stamp: req.stamp, content: req.content ?? null })
    if (tmpl === null) fail('session template rejected')
    const session = Lib.create_session_pkg(group, tmpl)
    if (!Lib.verify_session_pkg(group, session)) fail('session package does not verify')
    const ctx = Lib.get_session_ctx(group, session)
    const pkgs = shares.map(s => Lib.create_psig_pkg(ctx, s))
    const sigs = pkgs.length === session.members.length ? verify_all(ctx, pkgs) : null
    out = { session, pkgs, sigs }
    break
  }
  case 'combine': {
    // Verify packages made elsewhere (Frostbox) for a given session, combine, BIP-340-verify.
    const { group } = decode(req)
    if (!Lib.verify_session_pkg(group, req.session)) fail('session package does not verify')
    const ctx = Lib.get_session_ctx(group, req.session)
    out = { sigs: verify_all(ctx, req.pkgs) }
    break
  }
  case 'ecdh': {
    // One ECDH key share per given share over `members`, then the combined secret.
    const { shares } = decode(req)
    const pkgs = shares.map(s => Lib.create_ecdh_pkg(req.members, req.ecdh_pk, { idx: s.idx, seckey: s.seckey }))
    out = { pkgs }
    break
  }
  case 'ecdh_combine': {
    out = { secret: Lib.combine_ecdh_pkgs(req.pkgs) }
    break
  }
  default:
    fail('unknown mode ' + req.mode)
}
process.stdout.write(JSON.stringify(out) + '\n')
