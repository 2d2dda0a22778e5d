#!/bin/sh
# Installs and builds the real clients of the differential client harness (test/clients/, issue 12),
# each from its own registry and pinned, into the cache outside the repo (design.md, "Real parts in
# tests"; the machines reach package registries only):
#   psql            Debian's postgresql-client (scripts/ensure-postgres.sh installs it with the server)
#   node-postgres   the `pg` devDependency (package-lock.json)
#   Python          psycopg 3, psycopg-pool, asyncpg, SQLAlchemy 2 (+ greenlet) from PyPI, pinned in
#                   test/clients/python/requirements.txt, into a venv
#   pgJDBC          from Maven Central, pinned in test/clients/jdbc/pom.xml; Scenarios.java compiled
#   pgx v5          from the Go module proxy, pinned by test/clients/pgx/go.mod + go.sum; built
#
# Idempotent: each part is keyed by a hash of the files that pin and define it, so a warm run does no
# work and a changed pin or program rebuilds that part only. Progress goes to stderr; stdout gets one
# line per client, `name=path`, that test/clients/harness.ts reads:
#   python=<venv python>   jdbc=<classpath>   pgx=<binary>
#
#   $CACHE/clients/py-<hash>/           the venv
#   $CACHE/clients/m2/                  Maven's local repository
#   $CACHE/clients/jdbc-<hash>/         lib/*.jar and classes/
#   $CACHE/clients/pgx-<hash>/scenarios the Go binary (modules and build cache shared with build-kube.sh)
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$ROOT/test/clients"
CACHE="${AIRLOCK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airlock}"
OUT="$CACHE/clients"
mkdir -p "$OUT"
say() { echo "install-clients: $*" >&2; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# Two test processes (or npm test and a test file run by hand) must not install into the same place
# at once: the second waits here and then finds the first one's work done.
exec 9>"$OUT/.lock"
flock 9

# --- Python: psycopg 3, asyncpg, SQLAlchemy ------------------------------------------------------
PYREQ="$SRC/python/requirements.txt"
PYDIR="$OUT/py-$(hash_of "$PYREQ")"
if [ ! -f "$PYDIR/.done" ]; then
  command -v python3 >/dev/null 2>&1 || { say "python3 not found (Debian: apt-get install python3 python3-venv)"; exit 1; }
  say "installing the Python clients from PyPI into $PYDIR (first run, ~30 s)…"
  rm -rf "$PYDIR"
  if ! python3 -m venv "$PYDIR" >&2; then
    say "python3 -m venv failed; on Debian install python3-venv"
    exit 1
  fi
  "$PYDIR/bin/python" -m pip install --disable-pip-version-check --no-input -q --only-binary=:all: -r "$PYREQ" >&2
  touch "$PYDIR/.done"
fi
echo "python=$PYDIR/bin/python"

# --- pgJDBC ----------------------------------------------------------------------------------
JDIR="$OUT/jdbc-$(hash_of "$SRC/jdbc/pom.xml" "$SRC/jdbc/Scenarios.java")"
if [ ! -f "$JDIR/.done" ]; then
  command -v mvn >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 || { say "mvn and javac are needed for the pgJDBC client"; exit 1; }
  say "fetching pgJDBC from Maven Central and compiling Scenarios.java into $JDIR (first run, ~1 min)…"
  rm -rf "$JDIR"
  mkdir -p "$JDIR/lib" "$JDIR/classes"
  mvn -B -q -f "$SRC/jdbc/pom.xml" -Dmaven.repo.local="$OUT/m2" \
    dependency:copy-dependencies -DoutputDirectory="$JDIR/lib" >&2
  javac -encoding UTF-8 -d "$JDIR/classes" -cp "$JDIR/lib/*" "$SRC/jdbc/Scenarios.java" >&2
  touch "$JDIR/.done"
fi
echo "jdbc=$JDIR/classes:$JDIR/lib/*"

# --- pgx v5 ----------------------------------------------------------------------------------
GDIR="$OUT/pgx-$(hash_of "$SRC/pgx/go.mod" "$SRC/pgx/go.sum" "$SRC/pgx/main.go")"
if [ ! -x "$GDIR/scenarios" ]; then
  command -v go >/dev/null 2>&1 || { say "'go' not found; it builds the pgx client"; exit 1; }
  say "building the pgx client from the Go module proxy into $GDIR (first run, ~1 min)…"
  rm -rf "$GDIR"
  mkdir -p "$GDIR"
  (
    cd "$SRC/pgx"
    export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
    export GOMAXPROCS="${GOMAXPROCS:-2}"
    nice -n 10 go build -trimpath -o "$GDIR/scenarios.tmp" .
  ) >&2
  mv "$GDIR/scenarios.tmp" "$GDIR/scenarios"
fi
echo "pgx=$GDIR/scenarios"

# --- psql ------------------------------------------------------------------------------------
command -v psql >/dev/null 2>&1 || { say "psql not found: scripts/ensure-postgres.sh installs postgresql-client"; exit 1; }
echo "psql=$(command -v psql)"
