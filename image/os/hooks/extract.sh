#!/bin/sh
# mmdebstrap --extract-hook (image/os/build.sh, stage 1): runs on the host after the Essential
# packages were unpacked (natively) and before dpkg installs them all again under qemu-user.
#
# Build accelerator, nothing of it ships: dpkg inside the arm64 chroot unpacks every package
# through `dpkg-deb` (decompression) and `dpkg-deb --control` through `tar`. Emulated, that is
# ~0.8 s per package plus the decompression of the big ones (the kernel). The host's own x86_64
# dpkg-deb and tar do the same work natively: they, their libraries and the x86_64 loader are
# copied into the chroot (the kernel runs x86_64 ELF files directly; /lib64 and
# /usr/lib/x86_64-linux-gnu are unused on arm64). Same programs (dpkg 1.21, tar 1.34: the
# versions are checked), so the same files; customize.sh removes all of it and then verifies
# every installed file against its package's md5sums before the root filesystem is packed.
set -eu
r=$1
[ "$(uname -m)" = x86_64 ] || exit 0
[ ! -e "$r/lib64" ] && [ ! -e "$r/usr/lib64" ] || { echo "extract-hook: $r/lib64 exists; dpkg-deb stays emulated"; exit 0; }
hv=$(dpkg-deb --version | sed -nE '1s/.*version ([0-9]+\.[0-9]+)\..*/\1/p')
gv=$(ls "$r"/var/cache/apt/archives/ | sed -nE 's/^dpkg_([0-9]+\.[0-9]+)\..*/\1/p' | head -1)
if [ -z "$hv" ] || [ "$hv" != "$gv" ]; then
  echo "extract-hook: host dpkg ${hv:-?} != chroot dpkg ${gv:-?}; dpkg-deb stays emulated"; exit 0
fi

# /lib64 as a merged-/usr symlink (usr-is-merged's preinst refuses a real /lib64 directory)
mkdir -p "$r/usr/lib64" "$r/usr/lib/x86_64-linux-gnu"
ln -s usr/lib64 "$r/lib64"
cp -L /lib64/ld-linux-x86-64.so.2 "$r/lib64/"
libs=$(ldd /usr/bin/dpkg-deb /usr/bin/tar | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
for lib in $libs; do cp -L "$lib" "$r/usr/lib/x86_64-linux-gnu/"; done
mkdir -p "$r/tmp"
cp /usr/bin/dpkg-deb "$r/tmp/dpkg-deb.native"
if ! chroot "$r" /tmp/dpkg-deb.native --version >/dev/null 2>&1; then
  echo "extract-hook: the host's dpkg-deb does not run in the chroot; dpkg-deb stays emulated"
  for lib in $libs; do rm -f "$r/usr/lib/x86_64-linux-gnu/${lib##*/}"; done
  rm -rf "$r/lib64" "$r/usr/lib64" "$r/tmp/dpkg-deb.native"; rmdir "$r/usr/lib/x86_64-linux-gnu" 2>/dev/null || true
  exit 0
fi
rm "$r/tmp/dpkg-deb.native"
for f in /usr/bin/dpkg-deb /usr/bin/tar; do
  dpkg-divert --root="$r" --quiet --local --rename --divert "$f.distrib" --add "$f"
  cp "$f" "$r$f"
done
# what customize.sh removes again
for lib in $libs; do echo "/usr/lib/x86_64-linux-gnu/${lib##*/}"; done > "$r/.frostbox-native-tools"
echo "extract-hook: native $(chroot "$r" /usr/bin/dpkg-deb --version | head -1 | sed 's/.*version //') and $(chroot "$r" /usr/bin/tar --version | head -1) in the chroot"
