#!/bin/sh
# mmdebstrap --essential-hook (image/os/build.sh, stage 1): runs on the host after the Essential
# packages are in, before the other ~150 packages are installed by dpkg under qemu-user.
# Everything here is undone by customize.sh; nothing of it ships.
set -eu
r=$1

# extract.sh's native dpkg-deb needs the x86_64 loader at /lib64; usr-is-merged's postinst (the
# merged-usr hook, just before this one) removes /lib64 on arm64, so put it back until customize.sh.
if [ -f "$r/.frostbox-native-tools" ] && [ ! -e "$r/lib64/ld-linux-x86-64.so.2" ]; then
  mkdir -p "$r/usr/lib64"
  [ -e "$r/lib64" ] || ln -s usr/lib64 "$r/lib64"
  cp -L /lib64/ld-linux-x86-64.so.2 "$r/usr/lib64/"
fi

# update-initramfs: a no-op during the install. Under qemu-user each MODULES=most run takes 20+
# minutes and triggers would run it twice; stage 2 builds one MODULES=list initramfs.
chroot "$r" dpkg-divert --quiet --local --rename --divert /usr/sbin/update-initramfs.real --add /usr/sbin/update-initramfs
printf '#!/bin/sh\nexit 0\n' > "$r"/usr/sbin/update-initramfs
chmod 755 "$r"/usr/sbin/update-initramfs

# python byte-compilation: a no-op during the install. The postinsts of python3.11(-minimal)
# run py_compile.py over the whole standard library and dh-python packages run py3compile, all
# under emulation (~60 s). customize.sh compiles the same files with the host's CPython when it
# is the same 3.x (same bytecode magic); otherwise CPython writes them on first use.
chroot "$r" dpkg-divert --quiet --local --rename --divert /usr/bin/python3.11.real --add /usr/bin/python3.11
cat > "$r"/usr/bin/python3.11 <<'PY'
#!/bin/sh
# image build only (image/os/hooks/essential.sh): skip byte-compilation, run everything else
case "$*" in
  "-E -S /usr/lib/python3.11/py_compile.py "*|"-E -S -O /usr/lib/python3.11/py_compile.py "*) exit 0 ;;
esac
case "${1:-}" in
  /usr/bin/py3compile|/usr/bin/py3clean) exit 0 ;;
esac
exec /usr/bin/python3.11.real "$@"
PY
chmod 755 "$r"/usr/bin/python3.11

# openssh-server's postinst would make RSA/ECDSA/Ed25519 host keys under emulation; every card
# makes its own on first boot (frostbox-ssh-hostkeys.service), build.sh deletes these.
mkdir -p "$r"/etc/ssh
for t in rsa ecdsa ed25519; do : > "$r/etc/ssh/ssh_host_${t}_key"; done
