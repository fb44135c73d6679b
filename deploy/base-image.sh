#!/usr/bin/env bash
# Builds the Dockerfile's base image, a minimal Debian 12 root file system,
# from Debian's own packages, for machines that reach no image registry:
# debootstrap (variant minbase) into a folder, then `docker import`.
# Nothing is downloaded from anywhere but Debian's package archive, whose
# signatures debootstrap and apt check against the local archive keyring.
#
#   deploy/base-image.sh              tags debian:bookworm-slim (when absent)
#   deploy/base-image.sh --force      rebuilds even when an image is present
#   BASE_TAG=local/bookworm:slim deploy/base-image.sh
#
# Idempotent: when the tag already exists (pulled from a registry or built
# here before) it does nothing. The image is labelled
# org.pulsedb.base=debootstrap so a local build can be told from Debian's.
#
# Environment (defaults in brackets):
#   BASE_TAG        the tag to create [debian:bookworm-slim]
#   DEBIAN_MIRROR   the archive [the one this machine's apt uses, else deb.debian.org]
#   DEBIAN_SECURITY the security archive [likewise]
#   SUITE           [bookworm]
set -euo pipefail

tag="${BASE_TAG:-debian:bookworm-slim}"
suite="${SUITE:-bookworm}"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
force=0
[ "${1:-}" = "--force" ] && force=1

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if [ "$force" = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base-image: $tag is present; nothing to do (--force rebuilds it)"
  exit 0
fi

# The first http(s) URI this machine's apt uses for a Debian suite whose
# path ends in $1 ("debian" or "debian-security"), both one-line (.list)
# and deb822 (.sources) files.
apt_uri() {
  local path="$1"
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
      2>/dev/null \
    | grep -Eo "https?://[^ ]+/${path}/?( |$)" | head -n1 | tr -d ' ' | sed 's:/*$::' || true
}
mirror="${DEBIAN_MIRROR:-$(apt_uri debian)}"
mirror="${mirror:-http://deb.debian.org/debian}"
security="${DEBIAN_SECURITY:-$(apt_uri debian-security)}"
security="${security:-http://deb.debian.org/debian-security}"

if ! command -v debootstrap >/dev/null; then
  echo "base-image: installing debootstrap"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends debootstrap
fi
if [ ! -r "$keyring" ]; then
  echo "base-image: $keyring is missing (apt-get install debian-archive-keyring)" >&2
  exit 1
fi

root="$(mktemp -d "${TMPDIR:-/var/tmp}/pdb-base.XXXXXX")"
chmod 755 "$root"    # apt downloads as _apt inside
cleanup() {
  # A failed chroot step can leave /proc mounted inside.
  $sudo umount -l "$root/proc" 2>/dev/null || true
  $sudo rm -rf "$root"
}
trap cleanup EXIT

echo "base-image: debootstrap $suite from $mirror into $root"
$sudo debootstrap --variant=minbase --keyring="$keyring" "$suite" "$root" "$mirror"

# Like Debian's slim images: the same sources, no documentation or
# translations installed by later apt-get calls, no package lists or caches.
$sudo tee "$root/etc/apt/sources.list.d/debian.sources" >/dev/null <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
$sudo rm -f "$root/etc/apt/sources.list"
$sudo tee "$root/etc/dpkg/dpkg.cfg.d/docker" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
$sudo tee "$root/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'APT::Install-Recommends "false";' | $sudo tee "$root/etc/apt/apt.conf.d/docker-no-recommends" >/dev/null

# Security and point-release updates, as Debian's published images have them.
echo "base-image: applying $suite-updates and $suite-security"
$sudo cp /etc/resolv.conf "$root/etc/resolv.conf"
$sudo mount -t proc proc "$root/proc"
$sudo chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c 'apt-get update -qq && apt-get upgrade -y -qq'
$sudo umount "$root/proc"

$sudo rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/*.log \
  "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
  "$root"/tmp/* "$root"/dev/* "$root/etc/resolv.conf"
$sudo find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
$sudo find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
$sudo truncate -s 0 "$root/etc/machine-id" 2>/dev/null || true

echo "base-image: docker import as $tag"
$sudo tar --numeric-owner -C "$root" -c . \
  | docker import --change 'CMD ["bash"]' --change 'LABEL org.pulsedb.base=debootstrap' \
      --message "debootstrap --variant=minbase $suite $mirror" - "$tag" >/dev/null
echo "base-image: built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec))"
