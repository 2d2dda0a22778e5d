#!/bin/sh
# `npm test`: everything from a fresh machine (Debian bookworm, root, Node 20 + npm, Go; package
# registries reachable) to a test verdict. Phases, each with a header and its time:
#   set-up (stops at the first failure): Node 24, npm ci when package-lock.json changed, PostgreSQL,
#     the kube-apiserver build for cluster tests, the client drivers of test/clients/;
#   checks (all run, the summary lists every failure): type check, lint and format, CRD freshness, layering,
#     tests.
# Arguments are passed to the test phase: `npm test -- proxy/wire/frames.test.ts` runs that file only
# (set-up and checks still run).
set -eu
cd "$(dirname "$0")/.."

case "${1:-}" in
  -h | --help)
    cat <<'EOF'
usage: npm test [-- FILE.test.ts ...]      (or: sh scripts/test.sh [FILE.test.ts ...])

Everything from a fresh machine to a test verdict: set-up (Node 24, npm ci when package-lock.json changed,
PostgreSQL, the kube-apiserver build, the client drivers of test/clients/), then the checks (type check,
lint and format, CRD freshness, layering) and the tests, every *.test.ts or the files given. Exit 0 only when
all pass. Environment: see sh scripts/node24.sh scripts/run-tests.ts --help.
EOF
    exit 0
    ;;
esac

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
failed=""

# phase NAME COMMAND...: run COMMAND under a header; set-up failures end the run.
phase() {
  name=$1; shift
  echo "== $name"
  t0=$(now)
  if "$@"; then
    echo "== $name: ok ($(elapsed "$t0"))"
  else
    rc=$?
    echo "== $name: FAILED (exit $rc, $(elapsed "$t0"))"
    return "$rc"
  fi
}
# check NAME COMMAND...: like phase, but record the failure and go on.
check() {
  phase "$@" || failed="$failed, $1"
}

# --- set-up -----------------------------------------------------------------------------------

phase "node 24" sh scripts/node24.sh -e 'console.log(`node ${process.version}`)'

deps() {
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  stamp=node_modules/.airlock-lock-sha256
  if [ -d node_modules ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "node_modules matches package-lock.json"
    return 0
  fi
  # The machine's npm (Node 20) installs fine; engines says >=24 for running, so do not let it refuse.
  npm ci --no-audit --no-fund --engine-strict=false --loglevel=error || return 1
  echo "$want" > "$stamp"
}
phase "dependencies" deps

phase "postgresql" sh -c 'sh scripts/ensure-postgres.sh && ls -d /usr/lib/postgresql/*/bin 2>/dev/null || echo "AIRLOCK_PG_BIN=${AIRLOCK_PG_BIN:-}"'

kube() {
  if [ -f scripts/build-kube.sh ] && [ -x scripts/build-kube.sh ]; then
    scripts/build-kube.sh
  elif [ "${CI:-}" = "true" ]; then
    # In CI a missing build must not quietly turn cluster tests into no-ops.
    echo "scripts/build-kube.sh is missing or not executable; CI needs it for the cluster tests" >&2
    return 1
  else
    echo "scripts/build-kube.sh is missing or not executable: cluster tests will fail to find kube-apiserver"
  fi
}
phase "kube-apiserver build" kube
# helm for the chart tests, built from the Go module proxy like the apiserver (first run ~2 min).
phase "helm build" scripts/build-helm.sh
# The GitOps checks: kstatus (sigs.k8s.io/cli-utils) and Flux's API types, from the Go module proxy
# (test/kstatus, seconds once cached), and Lua 5.1 from Debian for the Argo CD health checks.
phase "kstatus build" sh scripts/build-kstatus.sh
phase "lua 5.1" sh scripts/ensure-lua.sh
# The real clients of the differential client harness (test/clients/): psycopg 3, asyncpg, SQLAlchemy
# from PyPI, pgJDBC from Maven Central, pgx from the Go module proxy, each pinned (first run ~2 min).
phase "client drivers" scripts/install-clients.sh

# --- checks -----------------------------------------------------------------------------------

check "type check" sh scripts/node24.sh node_modules/typescript/bin/tsc --noEmit -p .

# Biome (biome.jsonc): formatting and lint, read-only; `npm run format` fixes the formatting. It colours its
# output even into a pipe or a log, so only a terminal gets colours.
lint() {
  if [ -t 1 ]; then colors=force; else colors=off; fi
  node_modules/.bin/biome ci --colors="$colors"
}
check "lint and format" lint

if [ -f scripts/gen-crds.ts ]; then
  check "CRDs up to date" sh scripts/node24.sh scripts/gen-crds.ts --check
fi

# Imports against DEVELOPERS.md's layout table (scripts/check-layers.ts is its source), and import cycles.
check "layering" sh scripts/node24.sh scripts/check-layers.ts

check "tests" sh scripts/node24.sh scripts/run-tests.ts "$@"

if [ -n "$failed" ]; then
  echo "== npm test: FAILED: ${failed#, }"
  exit 1
fi
echo "== npm test: all passed"
