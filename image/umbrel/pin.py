#!/usr/bin/env python3
"""Pin the Frostbox image in the Umbrel compose file to a tag + index digest:

    pin.py [--compose PATH] TAG sha256:<64 hex>

Run by the release job with the digest printed by image/oci/mkoci.py (the same digest the
registry reports after `skopeo copy --all`), and by CI against a copy of the store.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv):
    compose = os.path.join(HERE, "frostr-frostbox", "docker-compose.yml")
    if len(argv) >= 2 and argv[0] == "--compose":
        compose, argv = argv[1], argv[2:]
    if len(argv) != 2 or not re.fullmatch(r"[A-Za-z0-9_.\-]+", argv[0]) or \
            not re.fullmatch(r"sha256:[0-9a-f]{64}", argv[1]):
        print(__doc__, file=sys.stderr)
        return 2
    tag, digest = argv
    with open(compose) as f:
        text = f.read()
    new, n = re.subn(r"(image: ghcr\.io/frostr-org/frostbox):[A-Za-z0-9_.\-]+@sha256:[0-9a-f]{64}",
                     rf"\1:{tag}@{digest}", text)
    if n != 1:
        print(f"pin: expected one frostbox image line in {compose}, found {n}", file=sys.stderr)
        return 1
    with open(compose, "w") as f:
        f.write(new)
    print(f"pinned ghcr.io/frostr-org/frostbox:{tag}@{digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
