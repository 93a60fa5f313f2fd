#!/usr/bin/env python3
"""Tests for mkoci.py (stdlib unittest): layout structure, digests, reproducibility."""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mkoci  # noqa: E402


def blob(layout, digest):
    algo, hexd = digest.split(":")
    with open(os.path.join(layout, "blobs", algo, hexd), "rb") as f:
        data = f.read()
    assert hashlib.sha256(data).hexdigest() == hexd, "blob content does not match its digest"
    return data


class MkociTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        self.bins = {}
        for arch in ("amd64", "arm64"):
            p = os.path.join(self.d, "bin-" + arch)
            with open(p, "wb") as f:
                f.write(b"\x7fELF fake " + arch.encode() * 100)
            self.bins[arch] = p

    def tearDown(self):
        self.tmp.cleanup()

    def run_mkoci(self, out, epoch="0", extra=()):
        env = dict(os.environ, SOURCE_DATE_EPOCH=epoch)
        r = subprocess.run(
            [sys.executable, os.path.join(HERE, "mkoci.py"), "--out", out, "--tag", "0.1.0",
             f"amd64={self.bins['amd64']}", f"arm64={self.bins['arm64']}", *extra],
            env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def test_structure(self):
        out = os.path.join(self.d, "layout")
        digest = self.run_mkoci(out)
        with open(os.path.join(out, "oci-layout")) as f:
            self.assertEqual(json.load(f), {"imageLayoutVersion": "1.0.0"})
        with open(os.path.join(out, "index.json")) as f:
            top = json.load(f)
        self.assertEqual(len(top["manifests"]), 1)
        self.assertEqual(top["manifests"][0]["digest"], digest)
        self.assertEqual(top["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
                         "0.1.0")
        index = json.loads(blob(out, digest))
        self.assertEqual(index["mediaType"], mkoci.MT_INDEX)
        plats = {m["platform"]["architecture"]: m for m in index["manifests"]}
        self.assertEqual(set(plats), {"amd64", "arm64"})
        for arch, m in plats.items():
            man = json.loads(blob(out, m["digest"]))
            self.assertEqual(m["size"], len(blob(out, m["digest"])))
            cfg = json.loads(blob(out, man["config"]["digest"]))
            self.assertEqual(cfg["architecture"], arch)
            c = cfg["config"]
            self.assertEqual(c["User"], "1000:1000")
            self.assertEqual(c["Entrypoint"], ["/usr/local/bin/frostbox"])
            self.assertIn("8002/tcp", c["ExposedPorts"])
            self.assertIn("/data", c["Volumes"])
            self.assertEqual(c["Healthcheck"]["Test"][-1], "healthcheck")
            self.assertEqual(len(man["layers"]), 1)
            gz = blob(out, man["layers"][0]["digest"])
            raw = gzip.decompress(gz)
            self.assertEqual(cfg["rootfs"]["diff_ids"],
                             ["sha256:" + hashlib.sha256(raw).hexdigest()])
            with tarfile.open(fileobj=io.BytesIO(raw)) as t:
                members = {x.name: x for x in t.getmembers()}
                b = members["usr/local/bin/frostbox"]
                self.assertEqual(b.mode, 0o755)
                with open(self.bins[arch], "rb") as f:
                    self.assertEqual(t.extractfile(b).read(), f.read())
                self.assertEqual((members["data"].uid, members["data"].gid), (1000, 1000))
                self.assertEqual(members["tmp"].mode, 0o1777)
                self.assertIn(b"frostbox:x:1000:1000",
                              t.extractfile(members["etc/passwd"]).read())

    def test_reproducible_and_sensitive(self):
        a = self.run_mkoci(os.path.join(self.d, "a"), epoch="1700000000")
        b = self.run_mkoci(os.path.join(self.d, "b"), epoch="1700000000")
        self.assertEqual(a, b, "same input must give the same index digest")
        c = self.run_mkoci(os.path.join(self.d, "c"), epoch="1700000001")
        self.assertNotEqual(a, c, "SOURCE_DATE_EPOCH must be part of the image")
        with open(self.bins["arm64"], "ab") as f:
            f.write(b"!")
        d = self.run_mkoci(os.path.join(self.d, "d"), epoch="1700000000")
        self.assertNotEqual(a, d, "a changed binary must change the digest")

    def test_bad_input(self):
        for spec in ("amd64", "mips=/x", f"arm={self.bins['amd64']}", "amd64=/nonexistent"):
            r = subprocess.run([sys.executable, os.path.join(HERE, "mkoci.py"), "--out",
                                os.path.join(self.d, "x"), "--tag", "t", spec],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, spec)
            self.assertIn("mkoci:", r.stderr)


if __name__ == "__main__":
    unittest.main()
