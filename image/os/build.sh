#!/usr/bin/env bash
# Flashable Frostbox OS image: Debian 12 arm64 in Debian's Raspberry Pi layout, with the static
# frostbox binary and its hardened systemd unit. mmdebstrap under qemu-user binfmt builds the root
# filesystem, genimage the disk image: no loop devices, no mounts. Needs root.
#
#   image/os/build.sh [--board rpi-arm64] [--bin PATH] [--out DIR] [--test] [--keep-rootfs] [--no-cache] [--xz]
#   image/os/build.sh --stage1-only [--board B] [--out DIR]   (fill the stage-1 cache, no binary needed)
#
#   --bin     static frostbox for the board's arch (default dist/frostbox-<ver>-<triple>, made by
#             scripts/build-release.sh aarch64 / ci step 70)
#   --out     output dir (default target/os-image)
#   --test    add the CI-only units from image/os/test/ (boot report, short watchdog); never ship
#   --no-cache  rebuild the Debian package stage (cached in target/os-cache/, max 7 days)
#   --xz      release step: also write <img>.xz and <img>.xz.sha256 (xz -T2 -6, ~2-3 min)
#   --stage1-only  build (or find) the cached Debian package stage and stop: CI runs this in the
#             background while the Rust builds run (ci/steps/05-prepare.sh), step 78 finds it cached
# Env: SOURCE_DATE_EPOCH (default: last commit time): file times, filesystem UUIDs, volume ids.
#      MIRROR / SECURITY_MIRROR: Debian archive URLs. For a byte-for-byte rebuild pin a snapshot:
#        MIRROR=http://snapshot.debian.org/archive/debian/20261122T000000Z
#        SECURITY_MIRROR=http://snapshot.debian.org/archive/debian-security/20261122T000000Z
#      The package versions that went in are recorded in <out>/manifest.txt and, in the image,
#      /usr/share/frostbox/manifest.txt.
#      OS_WORK: where the root filesystem is built (default /dev/shm with >= 4 GiB free, else <out>);
#      --keep-rootfs leaves it there. OS_CACHE / OS_CACHE_MAX_DAYS: the stage-1 cache.
# Output: <out>/<image name> (raw, MBR), <out>/manifest.txt, <out>/BUILDINFO, <out>/boot/ (kernel,
#         initrd, DTBs copied out of the FAT partition for qemu boots), <out>/stage1-dpkg.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
os_dir=$repo/image/os

board=rpi-arm64 bin="" out=target/os-image test=0 keep=0 xz=0 nocache=0 stage1_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --board) board=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --test) test=1; shift ;;
    --keep-rootfs) keep=1; shift ;;
    --xz) xz=1; shift ;;
    --no-cache) nocache=1; shift ;;
    --stage1-only) stage1_only=1; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
board_dir=$repo/board/$board
[ -f "$board_dir/board.conf" ] || { echo "build.sh: no board $board (board/$board/board.conf)" >&2; exit 2; }
# shellcheck source=/dev/null
. "$board_dir/board.conf"
[ "$(id -u)" = 0 ] || { echo "build.sh: needs root (mmdebstrap --mode=root, chroot)" >&2; exit 1; }
for t in mmdebstrap genimage mcopy mkfs.vfat mke2fs sfdisk; do
  command -v "$t" >/dev/null || { echo "build.sh: missing $t (apt-get install mmdebstrap genimage mtools dosfstools e2fsprogs fdisk)" >&2; exit 1; }
done

version=$(awk -F'"' '/^version *=/{print $2; exit}' Cargo.toml)
[ -n "$bin" ] || bin=dist/frostbox-$version-$BOARD_RUST_TRIPLE
if [ "$stage1_only" = 0 ]; then
  [ -f "$bin" ] || { echo "build.sh: no binary $bin (run scripts/build-release.sh aarch64)" >&2; exit 1; }
  case "$(file -b "$bin" 2>/dev/null || echo unknown)" in
    *aarch64*statically*|*aarch64*static-pie*|unknown) ;;
    *) echo "build.sh: $bin is not a static aarch64 binary: $(file -b "$bin")" >&2; exit 1 ;;
  esac
fi
if [ "$(uname -m)" != aarch64 ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { echo "build.sh: no qemu-aarch64 binfmt (apt-get install qemu-user-static binfmt-support)" >&2; exit 1; }
fi

export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
suite=bookworm
comps=${BOARD_COMPONENTS//,/ }

mkdir -p "$out"
out=$(cd "$out" && pwd)
# The root filesystem is built in RAM when there is room (tmpfs: dpkg's fsync per file and the
# removal of the build chroot cost minutes on a disk); peak ~2.5 GiB. OS_WORK=DIR overrides.
shm_free=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print int($4 / 1024) }')
mem_free=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
if [ -n "${OS_WORK:-}" ]; then work_parent=$OS_WORK
elif [ "${shm_free:-0}" -ge 4096 ] && [ "${mem_free:-0}" -ge 6144 ] \
  && ! findmnt -n -o OPTIONS /dev/shm | grep -qE '(^|,)(noexec|nodev|nosuid)(,|$)'; then work_parent=/dev/shm
else work_parent=$out
fi
mkdir -p "$work_parent"
work=$(mktemp -d "$work_parent/frostbox-os.XXXXXX")
# Never delete through a mount: an interrupted mmdebstrap can leave the chroot's /dev, /proc,
# /sys and a bind mount of the host's /dev/shm (same device, so --one-file-system is not enough).
cleanup() {
  if grep -qF " $work/" /proc/mounts; then echo "build.sh: mounts left under $work; not removing it" >&2; return 0; fi
  if [ "$keep" = 1 ]; then echo "kept the root filesystem: $work/rootfs"; else rm -rf --one-file-system "$work"; fi
}
trap cleanup EXIT
rootfs=$work/rootfs
export TMPDIR=$work
echo "build dir: $work"
t_all=$(date +%s)
# prefix every line with the seconds since the build started (where the time goes)
stamp() { perl -pe 'BEGIN { $| = 1 } $_ = sprintf("[%4ds] ", time - $ENV{FB_T0}) . $_'; }
export FB_T0=$t_all

# Exported for the hooks (mmdebstrap runs them with sh -c, the environment is inherited).
export FB_OS_DIR=$os_dir FB_BOARD_DIR=$board_dir FB_BIN=$repo/$bin FB_UNIT=$repo/systemd/frostbox.service
export FB_TEST=$test FB_CONSOLES=$BOARD_CONSOLES
export FB_DPKG_LOG=$out/stage1-dpkg.log
case "$bin" in /*) FB_BIN=$bin ;; esac

# no ca-certificates: frostbox carries its TLS roots (webpki-roots), apt uses http mirrors with
# signed Release files, and its postinst (one emulated fork per certificate) costs minutes.
# minbase keeps tzdata: without /etc/localtime, systemd-firstboot stops the first boot at a
# "Please configure your system! -- Press any key" console prompt (seen with --variant=essential).
packages="systemd-sysv,udev,kmod,systemd-timesyncd,systemd-resolved,iproute2,"
packages+="openssh-server,unattended-upgrades,fdisk,e2fsprogs,${BOARD_PACKAGES// /,}"

# --- stage 1: Debian packages (mmdebstrap under qemu-user). Cached as a tarball keyed by
# everything that goes into it; refreshed after a week (security updates) or with --no-cache /
# OS_CACHE_MAX_DAYS=0. What keeps the emulated part short (hooks/*.sh): dpkg-deb and tar run
# natively (verified with dpkg --verify afterwards), update-initramfs and Python byte-compilation
# are no-ops during the install (one MODULES=list initramfs in stage 2, pycs compiled
# natively), merged /usr is set up by mmdebstrap's hook
# instead of the usrmerge package (its conversion script and perl), docs/man/locales are not
# unpacked, no SSH host keys are generated, and the chroot lives in RAM when there is room.
cache=${OS_CACHE:-$repo/target/os-cache}
mkdir -p "$cache"
stage1_rev=3
hooks_sum=$(cat "$os_dir"/hooks/*.sh | sha256sum | cut -c1-16)
key=$(printf '%s\n' "$stage1_rev" "$suite" "$MIRROR" "$SECURITY_MIRROR" "$BOARD_ARCH" "$BOARD_COMPONENTS" "$packages" "$hooks_sum" \
  | sha256sum | cut -c1-16)
base=$cache/base-$board-$key.tar
max_days=${OS_CACHE_MAX_DAYS:-7}
if [ "$nocache" = 1 ] || [ "$max_days" = 0 ] || [ -n "$(find "$base" -mtime +"$max_days" 2>/dev/null)" ]; then rm -f "$base"; fi
t=$(date +%s)
if [ -f "$base" ]; then
  echo "stage 1: cached $base"
else
  find "$cache" -name "base-$board-*.tar" -delete
  # docs, man pages and translations are not installed (less emulated unpacking, smaller image);
  # copyright files stay.
  mmdebstrap --mode=root --format=tar --architectures="$BOARD_ARCH" --variant=minbase \
    --components="$BOARD_COMPONENTS" --include="$packages" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --extract-hook="$os_dir/hooks/extract.sh" \
    --essential-hook="$os_dir/hooks/essential.sh" \
    --customize-hook="$os_dir/hooks/customize.sh" \
    "$suite" "$base.tmp" \
    "deb $MIRROR $suite $comps" \
    "deb $MIRROR $suite-updates $comps" \
    "deb $SECURITY_MIRROR $suite-security $comps" 2>&1 | stamp
  mv "$base.tmp" "$base"
  # where the emulated time went: the slowest dpkg steps (unpack / configure incl. postinst)
  echo "stage 1: slowest dpkg steps (seconds, package, step):"
  awk '{ split($2, t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3] } $3 == "startup" { ps = s }
       $3 == "status" { if (ps != "") printf "%5d %s %s\n", s - ps, $5, $4; ps = s }' "$FB_DPKG_LOG" \
    | sort -rn | head -15 || true
  awk '{ split($2, t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3] } $3 == "startup" { ps = s }
       $3 == "status" { if (ps != "") all += s - ps; ps = s }
       END { printf "stage 1: %d s in dpkg runs (unpack, maintainer scripts, triggers)\n", all }' "$FB_DPKG_LOG" || true
fi
t_stage1=$(( $(date +%s) - t ))
if [ "$stage1_only" = 1 ]; then
  echo "TIMING os-image stage1=${t_stage1}s (--stage1-only: $base)"
  exit 0
fi

# --- stage 2: Frostbox, configuration, initramfs (a private mount namespace gives the chroot
# /proc, /sys and /dev; nothing stays mounted afterwards) ---
t=$(date +%s)
mkdir -p "$rootfs"
tar -C "$rootfs" --numeric-owner --xattrs --xattrs-include='*' -xpf "$base"
r=$rootfs
cp -a "$os_dir"/overlay/. "$r"/
chown -R root:root "$r"/etc/systemd "$r"/usr/local "$r"/etc/ssh/sshd_config.d "$r"/etc/apt/apt.conf.d
install -m 0755 "$FB_BIN" "$r"/usr/local/bin/frostbox
install -m 0644 "$FB_UNIT" "$r"/etc/systemd/system/frostbox.service
units="frostbox.service systemd-networkd.service systemd-resolved.service systemd-timesyncd.service"
units+=" frostbox-growroot.service frostbox-ssh-hostkeys.service frostbox-ssh-keys.service ssh.service"
if [ "$test" = 1 ]; then
  cp -a "$os_dir"/test/overlay/. "$r"/
  chown -R root:root "$r"/etc/systemd "$r"/usr/local/sbin
  units+=" frostbox-ci-report.service"
fi
systemctl --root="$r" enable $units
# e2scrub only checks ext4 on LVM volumes; there is no LVM here. Its boot-time reaper still
# scanned the disks (100 s under qemu -M raspi3b).
systemctl --root="$r" disable e2scrub_reap.service e2scrub_all.timer
# console login as root without a password (the local console only: sshd refuses passwords)
sed -i -E 's/^root:[^:]*:/root::/' "$r"/etc/shadow
printf 'LABEL=RASPIROOT / ext4 defaults,noatime,commit=60 0 1\nLABEL=RASPIFIRM /boot/firmware vfat defaults,nofail,umask=0077 0 2\n' > "$r"/etc/fstab
{ echo "ROOTPART=LABEL=RASPIROOT"; echo "CONSOLES=\"$BOARD_CONSOLES\""; } >> "$r"/etc/default/raspi-firmware
mkdir -p "$r"/etc/initramfs-tools/conf.d "$r"/etc/initramfs-tools/hooks
echo MODULES=list > "$r"/etc/initramfs-tools/conf.d/frostbox.conf
install -m 0755 "$board_dir"/initramfs-hook "$r"/etc/initramfs-tools/hooks/frostbox
unshare --mount --propagation private --fork sh -ec '
  r=$1
  mount -t proc proc "$r/proc"; mount -t sysfs sysfs "$r/sys"; mount --rbind /dev "$r/dev"
  rm "$r"/usr/sbin/update-initramfs
  chroot "$r" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
  chroot "$r" update-initramfs -c -k all
' sh "$r" 2>&1 | stamp
t_stage2=$(( $(date +%s) - t ))
t_debootstrap=$(( t_stage1 + t_stage2 ))
echo "rootfs built: stage 1 ${t_stage1} s, stage 2 ${t_stage2} s"

# --- finishing touches outside the chroot (mmdebstrap's own cleanup has run) ---
echo frostbox > "$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tfrostbox\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$rootfs/etc/hosts"
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$rootfs/etc/resolv.conf"
# first boot: new machine id, new SSH host keys (frostbox-ssh-hostkeys.service). An empty
# machine-id (machine-id(5) "first boot semantics", rule 4): systemd makes a random id and
# systemd-machine-id-commit.service writes it to the card, but it is not a "first boot": no
# systemd-firstboot wizard (it can stop the boot at a console prompt) and no preset-all. The
# presets would only add units Debian leaves off (ssh.socket next to ssh.service,
# remote-cryptsetup/veritysetup, systemd-sysext, ctrl-alt-del) and cost ~50 s under TCG.
: > "$rootfs/etc/machine-id"
rm -f "$rootfs"/var/lib/dbus/machine-id "$rootfs"/etc/ssh/ssh_host_*
mkdir -p "$rootfs/var/log/journal" "$rootfs/usr/share/frostbox"
rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*_Packages "$rootfs"/var/log/apt/* "$rootfs"/var/log/dpkg.log
# sanity: the things the checks and the first boot rely on
for f in usr/local/bin/frostbox etc/systemd/system/frostbox.service usr/bin/ssh-keygen usr/sbin/sfdisk usr/bin/partx sbin/resize2fs usr/bin/findmnt boot/firmware/config.txt boot/firmware/cmdline.txt; do
  [ -e "$rootfs/$f" ] || { echo "build.sh: $f missing in the root filesystem" >&2; exit 1; }
done
ls "$rootfs"/boot/firmware/initrd.img-* >/dev/null || { echo "build.sh: no initrd in /boot/firmware" >&2; exit 1; }

dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f='${Package} ${Version} ${Architecture}\n' | LC_ALL=C sort > "$out/manifest.txt"
bin_sha=$(sha256sum "$FB_BIN" | cut -d' ' -f1)
{
  echo "frostbox_version=$version"
  echo "frostbox_sha256=$bin_sha"
  echo "board=$board"
  echo "suite=$suite"
  echo "mirror=$MIRROR"
  echo "security_mirror=$SECURITY_MIRROR"
  echo "source_date_epoch=$SOURCE_DATE_EPOCH"
  echo "commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "test_build=$test"
} > "$out/BUILDINFO"
cp "$out/manifest.txt" "$out/BUILDINFO" "$rootfs/usr/share/frostbox/"
# reproducible file times (mke2fs -d and mkfs.vfat/mcopy copy them)
find "$rootfs" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch -h -d "@$SOURCE_DATE_EPOCH"

# --- disk image ---
t=$(date +%s)
img=$BOARD_IMAGE_NAME
uuid=$(printf '%s' "frostbox-root-$SOURCE_DATE_EPOCH" | sha256sum | sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*/\1-\2-4\3-8\4-\5/')
volid=$(printf '%08x' $(( SOURCE_DATE_EPOCH & 0xffffffff )))
sed -e "s/@UUID@/$uuid/g" -e "s/@VOLID@/$volid/g" -e "s/@ROOTSIZE@/$BOARD_ROOTSIZE/g" -e "s/@IMAGE@/$img/g" \
  "$board_dir/genimage.cfg" > "$work/genimage.cfg"
rm -rf "$work/gtmp" "$out/$img" "$out/firmware.vfat" "$out/root.ext4"
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH genimage --config "$work/genimage.cfg" --rootpath "$rootfs" \
  --tmppath "$work/gtmp" --inputpath "$out" --outputpath "$out" >"$work/genimage.log" 2>&1 \
  || { tail -30 "$work/genimage.log"; exit 1; }
rm -rf "$work/gtmp"
rm -f "$out/firmware.vfat" "$out/root.ext4"
t_genimage=$(( $(date +%s) - t ))

# kernel, initrd and DTBs, read back out of the image's FAT partition (for qemu -kernel boots)
rm -rf "$out/boot"; mkdir -p "$out/boot"
off=$(sfdisk -J "$out/$img" | python3 -c 'import json,sys; p=json.load(sys.stdin)["partitiontable"]["partitions"][0]; print(p["start"]*512)')
for f in $(mdir -b -i "$out/$img@@$off" ::/ | sed 's#^::/##' | grep -E '^(vmlinuz-|initrd\.img-|bcm2837-rpi-3-b\.dtb|bcm2711-rpi-4-b\.dtb|config\.txt|cmdline\.txt)'); do
  mcopy -n -i "$out/$img@@$off" "::/$f" "$out/boot/$f"
done
ls "$out"/boot/vmlinuz-* "$out"/boot/initrd.img-* >/dev/null

size=$(stat -c %s "$out/$img")
echo "image $out/$img: $size bytes ($((size / 1048576)) MiB); rootfs ${t_debootstrap} s, genimage ${t_genimage} s, total $(( $(date +%s) - t_all )) s"
echo "TIMING os-image stage1=${t_stage1}s stage2=${t_stage2}s genimage=${t_genimage}s total=$(( $(date +%s) - t_all ))s size=${size}"

if [ "$xz" = 1 ]; then
  t=$(date +%s)
  rm -f "$out/$img.xz"
  nice -n 19 xz -T2 -6 -k "$out/$img"
  (cd "$out" && sha256sum "$img.xz" > "$img.xz.sha256")
  echo "release artifact $out/$img.xz ($(stat -c %s "$out/$img.xz") bytes) in $(( $(date +%s) - t )) s"
  cat "$out/$img.xz.sha256"
fi
