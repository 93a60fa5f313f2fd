#!/bin/sh
# mmdebstrap --customize-hook (image/os/build.sh, stage 1): undo essential.sh, byte-compile
# Python natively, keep the dpkg log for the timing summary.
set -eu
r=$1

rm "$r"/usr/bin/python3.11
chroot "$r" dpkg-divert --quiet --local --rename --remove /usr/bin/python3.11
# update-initramfs stays diverted until stage 2 has put the MODULES=list config in place.

# extract.sh's native dpkg-deb and tar: out again, the packages' own binaries back in place
if [ -f "$r/.frostbox-native-tools" ]; then
  for f in /usr/bin/dpkg-deb /usr/bin/tar; do
    rm "$r$f"
    dpkg-divert --root="$r" --quiet --local --rename --remove "$f"
  done
  while read -r lib; do rm "$r$lib"; done < "$r/.frostbox-native-tools"
  rm "$r/usr/lib64/ld-linux-x86-64.so.2" "$r/lib64" "$r/.frostbox-native-tools"
  rmdir "$r/usr/lib64" "$r/usr/lib/x86_64-linux-gnu"
  # as usr-is-merged leaves an arm64 system: no /lib64
  [ ! -e "$r/lib64" ] && [ ! -e "$r/usr/lib64" ] || { echo "customize: /lib64 left behind" >&2; exit 1; }
  if grep -qa 'x86_64-linux-gnu\|ld-linux-x86-64' "$r/etc/ld.so.cache"; then chroot "$r" ldconfig; fi
  file -b "$r/usr/bin/dpkg-deb" "$r/usr/bin/tar" | grep -q -v aarch64 && { echo "customize: dpkg-deb/tar not restored" >&2; exit 1; }
fi
# Every file of every installed package must match the package's md5sums (host dpkg, 3 s);
# only the paths build.sh excludes from unpacking (docs, man pages, locales) may be missing.
bad=$(dpkg --root="$r" --verify 2>&1 | grep -vE '^missing +(c )?/usr/share/(doc|man|locale|info)/' || true)
if [ -n "$bad" ]; then echo "customize: dpkg --verify found differences:" >&2; echo "$bad" >&2; exit 1; fi
echo "customize: dpkg --verify: every installed file matches its package"

# The host's CPython writes the same .pyc files the postinsts would have (bytecode is
# architecture-independent; the magic number is fixed per 3.x). With SOURCE_DATE_EPOCH set they
# are checked-hash pycs (reproducible, independent of file times).
host_py=/usr/bin/python3
if [ -x "$host_py" ] && [ "$("$host_py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = 3.11 ]; then
  t=$(date +%s)
  n=0
  for d in usr/lib/python3.11 usr/lib/python3/dist-packages usr/share/python3; do
    [ -d "$r/$d" ] || continue
    "$host_py" -m compileall -q -j 2 -s "$r" -p / -x '/(lib2to3/tests|test/badsyntax|test/bad_coding)' "$r/$d" || n=$((n + 1))
  done
  echo "customize: byte-compiled Python natively with $("$host_py" -V) in $(( $(date +%s) - t )) s ($n dirs with errors)"
else
  echo "customize: no host CPython 3.11; the image's .pyc files are written on first use"
fi

cp "$r"/var/log/dpkg.log "$FB_DPKG_LOG"
