#!/bin/sh
# Builds the image's application tree: what the Dockerfile copies into its runtime stage, and what the
# tests run (test/image/image-tree.test.ts) — one script for both, since no container engine runs here.
#   sh scripts/build-image-tree.sh DEST
# Needs Node.js 24 as `node`, npm, and the repository's dev dependencies installed (TypeScript).
#
# DEST gets:
#   bin/ lib/ policy/ proxy/ audit/ operator/     JavaScript emitted by tsc (tsconfig.image.json): types
#   distribution/                                 erased, relative `.ts` imports rewritten to `.js`, no tests
#   examples/orders.yaml, examples/demo-seed.sql  what `airlock demo` reads
#   package.json, package-lock.json, node_modules production dependencies only (`npm ci --omit=dev`),
#                                                 no install scripts run (none is needed: protobufjs's
#                                                 postinstall only checks for its optional CLI; it is still
#                                                 installed, under @grpc/grpc-js's lazily loaded proto-loader)
# Entry point: node DEST/bin/airlock.js (operator, proxy — local and sidecar mode —, demo, validate, …).
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -ne 1 ]; then echo "usage: sh scripts/build-image-tree.sh DEST" >&2; exit 2; fi
case "$1" in /*) DEST="$1" ;; *) DEST="$PWD/$1" ;; esac
case "$(node -p 'process.versions.node.split(".")[0]')" in
  24) ;;
  *) echo "build-image-tree: needs Node.js 24 as node (found $(node --version)); run through scripts/node24.sh's node" >&2; exit 1 ;;
esac
[ -f "$ROOT/node_modules/typescript/bin/tsc" ] || { echo "build-image-tree: run npm ci first (TypeScript compiles the tree)" >&2; exit 1; }

rm -rf "$DEST"
mkdir -p "$DEST"
node "$ROOT/node_modules/typescript/bin/tsc" -p "$ROOT/tsconfig.image.json" --outDir "$DEST"

# tsc rewrites import specifiers only: a relative .ts path left in a string (a Worker URL, a readFile)
# would point at a file the tree does not have.
if grep -rEn "['\"\`]\.{1,2}/[^'\"\`]*\.ts['\"\`]" "$DEST" --include='*.js'; then
  echo "build-image-tree: the lines above name .ts files that do not exist in the compiled tree" >&2
  exit 1
fi
if find "$DEST" -name '*.test.js' | grep -q .; then echo "build-image-tree: tests in the tree" >&2; exit 1; fi

mkdir -p "$DEST/examples"
cp "$ROOT/examples/orders.yaml" "$ROOT/examples/demo-seed.sql" "$DEST/examples/"
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$DEST/"
(cd "$DEST" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --engine-strict=false --loglevel=error)
# The installed package runs the compiled entry point; scripts and dev dependencies mean nothing here.
node -e '
  const fs = require("node:fs");
  const file = process.argv[1];
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  pkg.bin = { airlock: "./bin/airlock.js" };
  delete pkg.scripts;
  delete pkg.devDependencies;
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
' "$DEST/package.json"
rm -f "$DEST/package-lock.json"
echo "build-image-tree: $DEST ($(du -sk "$DEST" | cut -f1) KiB)" >&2
