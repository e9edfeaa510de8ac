#!/bin/sh
# OpenClaw Relay installer. Picks the release binary for this machine (uname -s / uname -m), checks it
# against the release's SHA256SUMS, installs it as /usr/local/bin/openclaw-relay and, where systemd runs,
# installs the unit, a system user and /etc/openclaw-relay.env (an existing one is kept).
#
#   curl -fsSL https://github.com/openclaw-relay/openclaw-relay/releases/latest/download/install.sh | sh
#   curl -fsSL …/install.sh | sh -s -- --dry-run
#
# Options:
#   --version vX.Y.Z   install that release (default: the release this script came with)
#   --base-url URL     where the release files are: https://…, file:///dir or a local directory
#   --bin-dir DIR      where the binary goes (default /usr/local/bin)
#   --systemd | --no-systemd   install the unit or not (default: when systemd is running)
#   --dry-run          download and verify, then print what would be done without changing anything
set -eu

REPO_URL="https://github.com/openclaw-relay/openclaw-relay"
# scripts/release.ts stamps the release's own tag here, so a release's install.sh installs that release.
DEFAULT_TAG="latest"

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

usage() {
  cat << 'EOF'
Usage: install.sh [--version vX.Y.Z] [--base-url URL|DIR] [--bin-dir DIR] [--systemd|--no-systemd] [--dry-run]
Installs the OpenClaw Relay release binary for this machine after checking it against SHA256SUMS.
EOF
}

# Runs a command as root (through sudo when not root), or in dry-run mode prints it.
run() {
  if [ -n "$sudo" ]; then set -- "$sudo" "$@"; fi
  if [ "$dry_run" = 1 ]; then say "would run: $*"; else "$@"; fi
}

detect_platform() {
  case $(uname -s) in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT)
      die "on Windows download openclaw-relay-<version>-windows-x64.exe from $REPO_URL/releases" ;;
    *) die "no release binary for $(uname -s) (built: Linux and macOS on x64 and arm64, Windows on x64)" ;;
  esac
  case $(uname -m) in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no release binary for $(uname -m) on $os (built: x64 and arm64)" ;;
  esac
}

# fetch NAME: copies release file NAME into $tmp.
fetch() {
  case $base_url in
    http://* | https://*)
      if command -v curl > /dev/null 2>&1; then
        curl -fsSL --retry 3 -o "$tmp/$1" "$base_url/$1" || die "could not download $base_url/$1"
      elif command -v wget > /dev/null 2>&1; then
        wget -q -O "$tmp/$1" "$base_url/$1" || die "could not download $base_url/$1"
      else
        die "need curl or wget to download $base_url/$1"
      fi
      ;;
    file://*) cp "${base_url#file://}/$1" "$tmp/$1" 2> /dev/null || die "no $1 in $base_url" ;;
    *) cp "$base_url/$1" "$tmp/$1" 2> /dev/null || die "no $1 in $base_url" ;;
  esac
}

sha256_of() {
  if command -v sha256sum > /dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum > /dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  else
    die "need sha256sum or shasum to verify the download"
  fi
}

# verify NAME: the file in $tmp must match its line in SHA256SUMS (text or binary mode).
verify() {
  expected=$(awk -v n="$1" '$2 == n || $2 == "*" n { print $1; exit }' "$tmp/SHA256SUMS")
  [ -n "$expected" ] || die "$1 is not listed in SHA256SUMS; refusing to install"
  actual=$(sha256_of "$tmp/$1")
  [ "$actual" = "$expected" ] ||
    die "checksum mismatch for $1 (SHA256SUMS says $expected, the download is $actual); refusing to install"
  say "checksum ok: $1"
}

# The binary for this platform, whatever the version in its name.
binary_name() {
  names=$(awk -v suffix="-$os-$arch" '{
    n = $2; sub(/^\*/, "", n)
    if (n ~ /^openclaw-relay-/ && substr(n, length(n) - length(suffix) + 1) == suffix) print n
  }' "$tmp/SHA256SUMS")
  [ -n "$names" ] || die "the release at $base_url has no binary for $os-$arch"
  [ "$(printf '%s\n' "$names" | wc -l)" -eq 1 ] || die "SHA256SUMS lists several binaries for $os-$arch"
  printf '%s\n' "$names"
}

install_systemd_unit() {
  fetch openclaw-relay.service
  verify openclaw-relay.service
  fetch openclaw-relay.env.example
  verify openclaw-relay.env.example
  if [ "$bin_dir" != /usr/local/bin ]; then
    sed "s#/usr/local/bin/openclaw-relay#$bin_dir/openclaw-relay#g" "$tmp/openclaw-relay.service" > "$tmp/unit"
    mv "$tmp/unit" "$tmp/openclaw-relay.service"
  fi
  if ! id openclaw-relay > /dev/null 2>&1; then
    run useradd --system --home /var/lib/openclaw-relay --shell /usr/sbin/nologin openclaw-relay
  fi
  run install -m 0644 "$tmp/openclaw-relay.service" /etc/systemd/system/openclaw-relay.service
  if [ -e /etc/openclaw-relay.env ]; then
    say "keeping /etc/openclaw-relay.env"
  else
    run install -m 0640 -o root -g openclaw-relay "$tmp/openclaw-relay.env.example" /etc/openclaw-relay.env
  fi
  run systemctl daemon-reload
  if systemctl is-active --quiet openclaw-relay 2> /dev/null; then
    run systemctl restart openclaw-relay
  else
    say "next: edit /etc/openclaw-relay.env, then: sudo systemctl enable --now openclaw-relay"
  fi
}

main() {
  tag=${OPENCLAW_RELAY_VERSION:-$DEFAULT_TAG}
  base_url=${OPENCLAW_RELAY_BASE_URL:-}
  bin_dir=/usr/local/bin
  systemd=auto
  dry_run=0
  while [ $# -gt 0 ]; do
    case $1 in
      --version | --base-url | --bin-dir)
        [ $# -ge 2 ] || die "$1 needs a value"
        case $1 in --version) tag=$2 ;; --base-url) base_url=$2 ;; --bin-dir) bin_dir=$2 ;; esac
        shift 2
        ;;
      --version=*) tag=${1#*=}; shift ;;
      --base-url=*) base_url=${1#*=}; shift ;;
      --bin-dir=*) bin_dir=${1#*=}; shift ;;
      --systemd) systemd=yes; shift ;;
      --no-systemd) systemd=no; shift ;;
      --dry-run) dry_run=1; shift ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown option $1 (see --help)" ;;
    esac
  done
  if [ -z "$base_url" ]; then
    if [ "$tag" = latest ]; then base_url="$REPO_URL/releases/latest/download"
    else base_url="$REPO_URL/releases/download/$tag"; fi
  fi
  base_url=${base_url%/}

  detect_platform
  if [ "$systemd" = auto ]; then
    if [ "$os" = linux ] && [ -d /run/systemd/system ] && command -v systemctl > /dev/null 2>&1; then
      systemd=yes
    else systemd=no; fi
  fi
  sudo=
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo > /dev/null 2>&1; then sudo=sudo
    elif [ "$dry_run" = 0 ]; then die "run as root (or install sudo)"; fi
  fi

  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  trap 'exit 1' INT TERM

  say "platform: $os-$arch; release: $base_url"
  fetch SHA256SUMS
  name=$(binary_name)
  fetch "$name"
  verify "$name"
  chmod 0755 "$tmp/$name"
  run install -d -m 0755 "$bin_dir"
  run install -m 0755 "$tmp/$name" "$bin_dir/openclaw-relay"
  if [ "$systemd" = yes ]; then install_systemd_unit; fi
  if [ "$dry_run" = 1 ]; then
    say "dry run: nothing was changed"
  else
    say "installed $("$bin_dir/openclaw-relay" version) at $bin_dir/openclaw-relay"
  fi
}

main "$@"
