#!/usr/bin/env bash
# Builds real, reproducible VM disk images for tests and benchmarks, from Debian's own packages.
#   make-disk-corpus.sh OUT_DIR [DISK_SIZE_MIB]
# Produces in OUT_DIR:
#   debian-v1.raw / .vhd  GPT disk: 128 MiB EFI System Partition (FAT32, signed shim as \EFI\BOOT\BOOTX64.EFI)
#                         + ext4 root holding a minimal Debian bookworm (debootstrap --variant=minbase)
#   debian-v2.raw / .vhd  the same disk after one more package set was installed (a realistic next version)
#   mbr-v1.raw   / .vhd   the v1 root file system on an MBR disk with no EFI partition (a Gen1-only image)
#   SHA256SUMS
# Needs root (debootstrap, chroot, a loop mount) and: debootstrap gdisk fdisk dosfstools mtools e2fsprogs qemu-utils shim-signed (apt-get installs them).
# Sparse files: the raw images occupy far less than DISK_SIZE_MIB on disk.
#
# Adapted from ../shared/tools/make-disk-corpus.sh (the shared tool). Changes, so that it runs
# unattended as root on a fresh Debian machine and CI:
#   - `apt-get update` before installing (a fresh machine may have no package lists);
#   - the signed shim is taken from the shim-signed .deb (apt-get download + dpkg-deb -x) unless the
#     package is already installed, so the host's boot loader set-up (grub, mokutil) is never touched;
#   - a policy-rc.d in the v2 chroot, so installing openssh-server starts no daemon that would keep
#     the loop mount busy;
#   - cleanup unmounts before it deletes, and deletes with --one-file-system (never through a
#     still-bound /dev);
#   - a failed debootstrap shows the end of its log;
#   - SHA256SUMS is computed with openssl, in parallel (sha256sum took 4 minutes on 4 GiB disks).
set -euo pipefail
out=${1:?usage: make-disk-corpus.sh OUT_DIR [DISK_SIZE_MIB]}
size_mib=${2:-4096}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$out"; out=$(cd "$out" && pwd)
need="debootstrap sgdisk sfdisk mkfs.vfat mcopy mkfs.ext4 qemu-img openssl"
missing=""; for t in $need; do command -v "$t" >/dev/null || missing=1; done
if [[ -n $missing ]]; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap gdisk fdisk dosfstools mtools e2fsprogs qemu-utils openssl >/dev/null
fi
work=$(mktemp -d)
cleanup() {
  if [[ -d $work/mnt ]]; then umount -R "$work/mnt" 2>/dev/null || true; fi
  if mountpoint -q "$work/mnt" 2>/dev/null; then echo "make-disk-corpus: $work/mnt still mounted, left in place" >&2; return; fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
shim=/usr/lib/shim/shimx64.efi.signed
if [[ ! -f $shim ]]; then
  (cd "$work" && apt-get download -q shim-signed >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get download -q shim-signed >/dev/null; })
  dpkg-deb -x "$work"/shim-signed_*.deb "$work/shim-pkg"
  shim=$work/shim-pkg/usr/lib/shim/shimx64.efi.signed
fi
echo "debootstrap minbase bookworm ..." >&2
debootstrap --variant=minbase bookworm "$work/root1" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
esp_mib=128
make_gpt_disk() { # $1 rootfs dir, $2 output raw
  local rootfs=$1 disk=$2 root_mib=$((size_mib - esp_mib - 2))
  rm -f "$disk"; truncate -s "${size_mib}M" "$disk"
  sgdisk -o -n 1:2048:+${esp_mib}M -t 1:EF00 -c 1:EFI -n 2:0:0 -t 2:8304 -c 2:root "$disk" >/dev/null
  truncate -s "${esp_mib}M" "$work/esp.img"; mkfs.vfat -F 32 --invariant "$work/esp.img" >/dev/null
  mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT
  mcopy -i "$work/esp.img" "$shim" ::/EFI/BOOT/BOOTX64.EFI
  dd if="$work/esp.img" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
  local start; start=$(sgdisk -i 2 "$disk" | awk '/First sector/{print $3}')
  local sectors; sectors=$(sgdisk -i 2 "$disk" | awk '/Partition size/{print $3}')
  rm -f "$work/root.img"; truncate -s $((sectors * 512)) "$work/root.img"
  mkfs.ext4 -q -F -E lazy_itable_init=0,root_owner=0:0 -U clear -T default -d "$rootfs" "$work/root.img"
  dd if="$work/root.img" of="$disk" bs=512 seek="$start" conv=notrunc,sparse status=none
}
make_mbr_disk() { # $1 rootfs dir, $2 output raw
  local rootfs=$1 disk=$2
  rm -f "$disk"; truncate -s "${size_mib}M" "$disk"
  printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$disk"
  rm -f "$work/root.img"; truncate -s $(( (size_mib - 1) * 1048576 )) "$work/root.img"
  mkfs.ext4 -q -F -U clear -d "$rootfs" "$work/root.img"
  dd if="$work/root.img" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
}
echo "building disks ..." >&2
make_gpt_disk "$work/root1" "$out/debian-v1.raw"
make_mbr_disk "$work/root1" "$out/mbr-v1.raw"
# v2: the next image version as image pipelines make it — boot (here: mount) v1, update in place, capture.
# Files that did not change keep their blocks, as on a real updated disk.
cp --sparse=always "$out/debian-v1.raw" "$out/debian-v2.raw"
start=$(sgdisk -i 2 "$out/debian-v2.raw" | awk '/First sector/{print $3}')
mkdir -p "$work/mnt"
mount -o loop,offset=$((start * 512)) "$out/debian-v2.raw" "$work/mnt"
mount --bind /dev "$work/mnt/dev"; mount -t proc proc "$work/mnt/proc"
cp /etc/resolv.conf "$work/mnt/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$work/mnt/usr/sbin/policy-rc.d"; chmod +x "$work/mnt/usr/sbin/policy-rc.d"
chroot "$work/mnt" /bin/sh -c 'apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server curl ca-certificates less >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*'
rm -f "$work/mnt/usr/sbin/policy-rc.d"
umount "$work/mnt/proc" "$work/mnt/dev"; umount "$work/mnt"
for r in debian-v1 debian-v2 mbr-v1; do
  # Azure's upload format: fixed VHD whose virtual size is a whole number of MiB
  qemu-img convert -f raw -O vpc -o subformat=fixed,force_size "$out/$r.raw" "$out/$r.vhd"
done
# openssl hashes several times faster than coreutils' sha256sum; same line format ("HASH *FILE").
(cd "$out" && printf '%s\n' ./*.raw ./*.vhd | xargs -P "$(nproc)" -n 1 openssl dgst -sha256 -r | sort -k2 > SHA256SUMS)
du -h --apparent-size "$out"/*.raw | sed 's/^/apparent /' >&2
du -h "$out"/*.raw | sed 's/^/occupied /' >&2
