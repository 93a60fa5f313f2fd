#!/usr/bin/env python3
"""Tests for check.py and pin.py: the committed store passes; each broken copy trips its rule."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check  # noqa: E402

APP = "frostr-frostbox"
DIGEST = "sha256:" + "ab" * 32


class CheckTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = os.path.join(self.tmp.name, "store")
        shutil.copytree(HERE, self.root,
                        ignore=shutil.ignore_patterns("*.py", "__pycache__"))

    def tearDown(self):
        self.tmp.cleanup()

    def edit(self, name, old, new):
        p = os.path.join(self.root, APP, name)
        with open(p) as f:
            s = f.read()
        self.assertIn(old, s)
        with open(p, "w") as f:
            f.write(s.replace(old, new, 1))

    def rules(self, release=False):
        return {i[2] for i in check.check_store(self.root, release).errors}

    def test_committed_store_passes(self):
        self.assertEqual(self.rules(), set())

    def test_pin_then_release_check(self):
        self.assertEqual(self.rules(release=True), {"image.placeholder"})
        r = subprocess.run([sys.executable, os.path.join(HERE, "pin.py"), "--compose",
                            os.path.join(self.root, APP, "docker-compose.yml"), "0.1.0", DIGEST],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.rules(release=True), set())
        with open(os.path.join(self.root, APP, "docker-compose.yml")) as f:
            self.assertIn(f"frostbox:0.1.0@{DIGEST}", f.read())

    def test_broken_copies(self):
        cases = [
            ("umbrel-app.yml", "id: frostr-frostbox", "id: frostbox", {"manifest.id"}),
            ("umbrel-app.yml", "category: social", "category: nostr", {"manifest.category"}),
            ("umbrel-app.yml", "port: 8102", "port: 2000", {"manifest.port"}),
            ("umbrel-app.yml", 'version: "0.1.0"', "version: 0.1", {"manifest.version"}),
            ("umbrel-app.yml", "tagline:", "tagl1ne:", {"manifest.required"}),
            ("docker-compose.yml", "frostbox:0.1.0@sha256:", "frostbox:latest@sha256:",
             {"image.pinned"}),
            ("docker-compose.yml", ":0.1.0@sha256:" + "0" * 64, ":0.1.0", {"image.pinned"}),
            ("docker-compose.yml", "APP_HOST: frostr-frostbox_web_1", "APP_HOST: web",
             {"app_proxy.host"}),
            ("docker-compose.yml", "APP_PORT: 8002", "APP_PORT: http", {"app_proxy.port"}),
            ("docker-compose.yml", "${APP_DATA_DIR}/data/app:/data", "frostbox-data:/data",
             {"persistence.app_data_root"}),
            ("docker-compose.yml", "${APP_DATA_DIR}/data/app:/data",
             "${APP_DATA_DIR}/data/missing:/data", {"persistence.missing_source"}),
            ("docker-compose.yml", "    user:", "    build: .\n    user:", {"compose.build"}),
            ("docker-compose.yml", "      - ${APP_DATA_DIR}",
             "      - /var/run/docker.sock:/var/run/docker.sock\n      - ${APP_DATA_DIR}",
             {"access.docker_socket"}),
        ]
        for name, old, new, want in cases:
            with self.subTest(new=new):
                self.tearDown()
                self.setUp()
                self.edit(name, old, new)
                self.assertEqual(self.rules(), want)

    def test_store_prefix_and_exports(self):
        with open(os.path.join(self.root, "umbrel-app-store.yml"), "w") as f:
            f.write("id: other\nname: Other\n")
        self.assertEqual(self.rules(), {"store.prefix"})
        with open(os.path.join(self.root, "umbrel-app-store.yml"), "w") as f:
            f.write("id: frostr\nname: FROSTR\n")
        with open(os.path.join(self.root, APP, "exports.sh"), "w") as f:
            f.write('export APP_FROSTR_FROSTBOX_PORT="8002"\ncd /tmp\n')
        self.assertEqual(self.rules(), {"exports.cd"})

    def test_warnings(self):
        self.edit("docker-compose.yml", "    restart: on-failure\n", "    privileged: true\n")
        items = {(i[0], i[2]) for i in check.check_store(self.root).items}
        self.assertIn(("WARNING", "service.restart"), items)
        self.assertIn(("WARNING", "access.privileged"), items)


if __name__ == "__main__":
    unittest.main()
