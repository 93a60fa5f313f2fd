#!/usr/bin/env python3
"""Build a multi-arch OCI image layout for Frostbox's static binaries, without a container
engine (Python stdlib only).

    mkoci.py --out DIR --tag 0.1.0 amd64=dist/frostbox-x86_64 arm64=dist/frostbox-aarch64 \
             [arm/v7=dist/frostbox-armv7]

Writes DIR/oci-layout, DIR/index.json and DIR/blobs/sha256/*: one image per platform (one gzip
layer: the binary, /data owned by 1000:1000, /tmp, a minimal /etc/passwd+group), an image
index over them, and prints the index digest -- the digest to pin (tag@sha256:...) after
`skopeo copy --all oci:DIR:TAG docker://REGISTRY/IMAGE:TAG`.

Reproducible: same binaries + same SOURCE_DATE_EPOCH (default 0) => byte-identical blobs and
the same index digest. Every mtime is SOURCE_DATE_EPOCH, tar entries are in a fixed order with
fixed owners and PAX format, gzip's header mtime is 0, JSON is canonical (sorted keys, no
whitespace).

Health check: the OCI image config has no HEALTHCHECK field. We add Docker's `Healthcheck`
extension (`frostbox healthcheck`, which GETs /ready, every 30 s); Docker honours it, podman
honours it for images it pulls in docker format, and compose files (Umbrel) set the same
`healthcheck:` explicitly.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import time

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

BIN = "/usr/local/bin/frostbox"
PORT = 8002
UID = GID = 1000
SECOND_NS = 1_000_000_000


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def put_blob(out, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def layer_tar(binary, epoch):
    """The root filesystem as an uncompressed tar (deterministic)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def entry(name, kind, mode, uid=0, gid=0, data=b""):
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.mode = mode
            ti.uid, ti.gid = uid, gid
            ti.uname = ti.gname = ""
            ti.mtime = epoch
            if kind == tarfile.REGTYPE:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
            else:
                tar.addfile(ti)

        d = tarfile.DIRTYPE
        f = tarfile.REGTYPE
        entry("data", d, 0o750, UID, GID)
        entry("etc", d, 0o755)
        entry("etc/group", f, 0o644, data=b"root:x:0:\nfrostbox:x:1000:\n")
        entry("etc/passwd", f, 0o644,
              data=b"root:x:0:0:root:/root:/sbin/nologin\n"
                   b"frostbox:x:1000:1000:frostbox:/data:/sbin/nologin\n")
        entry("tmp", d, 0o1777)
        entry("usr", d, 0o755)
        entry("usr/local", d, 0o755)
        entry("usr/local/bin", d, 0o755)
        with open(binary, "rb") as fh:
            entry("usr/local/bin/frostbox", f, 0o755, data=fh.read())
    return buf.getvalue()


def image_config(arch, variant, diff_id, tag, epoch, source):
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    cfg = {
        "created": created,
        "architecture": arch,
        "os": "linux",
        "config": {
            "User": f"{UID}:{GID}",
            "Entrypoint": [BIN],
            "Cmd": ["serve"],
            "Env": [
                "PATH=/usr/local/bin",
                "HOST_NAME=0.0.0.0",
                f"HOST_PORT={PORT}",
                "FROSTBOX_DATA=/data",
            ],
            "ExposedPorts": {f"{PORT}/tcp": {}},
            "Volumes": {"/data": {}},
            "WorkingDir": "/data",
            "StopSignal": "SIGTERM",
            "Labels": {
                "org.opencontainers.image.title": "frostbox",
                "org.opencontainers.image.description":
                    "FROSTR threshold signer, Nostr relay and NIP-46 bunker",
                "org.opencontainers.image.version": tag,
                "org.opencontainers.image.created": created,
                "org.opencontainers.image.licenses": "MIT",
                "org.opencontainers.image.source": source,
            },
            # Docker extension (see module docstring).
            "Healthcheck": {
                "Test": ["CMD", BIN, "healthcheck"],
                "Interval": 30 * SECOND_NS,
                "Timeout": 5 * SECOND_NS,
                "StartPeriod": 20 * SECOND_NS,
                "Retries": 3,
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "image/oci/mkoci.py"}],
    }
    if variant:
        cfg["variant"] = variant
    return cfg


def build(out, tag, platforms, epoch, source):
    """platforms: list of (arch, variant, binary path). Returns the index descriptor."""
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "blobs", "sha256"))
    manifests = []
    for arch, variant, binary in platforms:
        raw = layer_tar(binary, epoch)
        diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        layer = put_blob(out, gzip.compress(raw, compresslevel=9, mtime=0), MT_LAYER)
        config = put_blob(out, canonical(image_config(arch, variant, diff_id, tag, epoch, source)),
                          MT_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": config,
                    "layers": [layer]}
        desc = put_blob(out, canonical(manifest), MT_MANIFEST)
        desc["platform"] = {"architecture": arch, "os": "linux"}
        if variant:
            desc["platform"]["variant"] = variant
        manifests.append(desc)
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests}
    idx = put_blob(out, canonical(index), MT_INDEX)
    idx["annotations"] = {"org.opencontainers.image.ref.name": tag}
    with open(os.path.join(out, "oci-layout"), "wb") as f:
        f.write(canonical({"imageLayoutVersion": "1.0.0"}))
    with open(os.path.join(out, "index.json"), "wb") as f:
        f.write(canonical({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [idx]}))
    return idx


def parse_platform(spec):
    plat, sep, path = spec.partition("=")
    if not sep or not path:
        raise ValueError(f"expected PLATFORM=PATH, got {spec!r}")
    arch, _, variant = plat.partition("/")
    if arch not in ("amd64", "arm64", "arm"):
        raise ValueError(f"unsupported architecture {arch!r} (amd64, arm64, arm/v7)")
    if arch == "arm" and variant != "v7":
        raise ValueError("arm needs the variant: arm/v7")
    if not os.path.isfile(path):
        raise ValueError(f"binary not found: {path}")
    return arch, variant, path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output OCI layout directory (replaced)")
    ap.add_argument("--tag", required=True, help="tag, e.g. 0.1.0")
    ap.add_argument("--source", default="https://github.com/frostr-org/frostbox")
    ap.add_argument("platforms", nargs="+", help="amd64=PATH arm64=PATH [arm/v7=PATH]")
    a = ap.parse_args(argv)
    try:
        platforms = [parse_platform(s) for s in a.platforms]
    except ValueError as e:
        print(f"mkoci: {e}", file=sys.stderr)
        return 2
    seen = [(p[0], p[1]) for p in platforms]
    if len(set(seen)) != len(seen):
        print("mkoci: duplicate platform", file=sys.stderr)
        return 2
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    idx = build(a.out, a.tag, platforms, epoch, a.source)
    print(idx["digest"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
