#!/usr/bin/env bash
# Builds the disk corpus (scripts/make-disk-corpus.sh) once into <repo>/.corpus/ and reuses it on
# later runs. Reuse is decided cheaply: .corpus/STAMP records the disk size, the hash of the
# recipe (make-disk-corpus.sh less its comments) and every built file's size and mtime; they must
# all still match. A full check of SHA256SUMS (about a minute on 4 GiB disks) runs only with
# --verify; --rebuild forces a new build.
#   scripts/corpus.sh [--verify] [--rebuild]
# Environment: OCG_CORPUS_DISK_MIB (default 4096), OCG_CORPUS_DIR (default <repo>/.corpus).
# Besides the recipe's files it adds debian-v1-dynamic.vhd (a dynamic VHD, which uploads must refuse).
# Concurrent runs wait for each other (flock); a build that fails leaves no STAMP, so the next run
# builds again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${OCG_CORPUS_DIR:-$root/.corpus}
size_mib=${OCG_CORPUS_DISK_MIB:-4096}
verify=""; rebuild=""
for arg in "$@"; do
  case $arg in
    --verify) verify=1 ;;
    --rebuild) rebuild=1 ;;
    *) echo "usage: corpus.sh [--verify] [--rebuild]" >&2; exit 2 ;;
  esac
done
[[ $size_mib =~ ^[1-9][0-9]*$ && $size_mib -ge 256 ]] || { echo "corpus: OCG_CORPUS_DISK_MIB must be a whole number >= 256" >&2; exit 2; }
files=(debian-v1.raw debian-v1.vhd debian-v2.raw debian-v2.vhd mbr-v1.raw mbr-v1.vhd debian-v1-dynamic.vhd SHA256SUMS)

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9

stamp() { # what STAMP must say for the files as they are now
  echo "disk_mib=$size_mib"
  echo "recipe=$(grep -v '^[[:space:]]*#' "$root/scripts/make-disk-corpus.sh" | sha256sum | cut -d' ' -f1)"
  (cd "$dir" && stat -c '%n %s %.9Y' "${files[@]}")
}

verify_sums() { # like `sha256sum -c SHA256SUMS`, with openssl (several times faster)
  local sum name
  while read -r sum name; do
    name=${name#\*}
    [[ $(cd "$dir" && openssl dgst -sha256 -r "$name" | cut -d' ' -f1) == "$sum" ]] ||
      { echo "corpus: $name does not match SHA256SUMS" >&2; return 1; }
  done <"$dir/SHA256SUMS"
}

if [[ -z $rebuild && -f $dir/STAMP ]] && [[ "$(stamp 2>/dev/null)" == "$(cat "$dir/STAMP")" ]]; then
  if [[ -z $verify ]]; then echo "corpus: reusing $dir"; exit 0; fi
  echo "corpus: verifying $dir/SHA256SUMS ..." >&2
  if verify_sums; then echo "corpus: verified $dir"; exit 0; fi
  echo "corpus: checksums do not hold, rebuilding" >&2
fi

[[ $(id -u) -eq 0 ]] || { echo "corpus: building needs root (debootstrap, chroot, a loop mount): run as root" >&2; exit 1; }
echo "corpus: building ${size_mib} MiB disks into $dir (takes minutes) ..." >&2
started=$SECONDS
rm -f "$dir/STAMP"
rm -rf --one-file-system "$dir/.partial"
bash "$root/scripts/make-disk-corpus.sh" "$dir/.partial" "$size_mib"
qemu-img convert -f raw -O vpc -o subformat=dynamic "$dir/.partial/debian-v1.raw" "$dir/.partial/debian-v1-dynamic.vhd"
(cd "$dir/.partial" && openssl dgst -sha256 -r ./debian-v1-dynamic.vhd >>SHA256SUMS)
for f in "${files[@]}"; do mv -f "$dir/.partial/$f" "$dir/$f"; done
rmdir "$dir/.partial"
stamp >"$dir/STAMP.tmp" && mv "$dir/STAMP.tmp" "$dir/STAMP"
echo "corpus: built in $((SECONDS - started)) s" >&2
(cd "$dir" && du -h --apparent-size "${files[@]}" | sed 's/^/apparent /' && du -h "${files[@]}" | sed 's/^/occupied /') >&2
