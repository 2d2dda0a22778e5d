#!/bin/sh
# Makes sure the PostgreSQL server binaries (initdb, pg_ctl, postgres, pgbench, psql) are installed,
# from Debian's own packages; with the argument `pgbouncer`, PgBouncer too (only the benchmark needs it).
# Installs nothing when they are present. Tests never use a system cluster: test/support/pg.ts runs
# initdb into a temp directory, so the packages are installed WITHOUT a default cluster and without
# starting any service (a pgbouncer service would take port 6432, Airlock's default listen port).
set -eu

need=""
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need="postgresql-15 postgresql-client-15"
fi
if [ "${1:-}" = "pgbouncer" ] && ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  need="$need pgbouncer"
fi
[ -n "$need" ] || exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "airlock: need Debian packages:$need — install them (apt-get install -y$need) or run as root" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "airlock: need$need but this machine has no apt-get; install PostgreSQL 15 server binaries and set AIRLOCK_PG_BIN" >&2
  exit 1
fi

echo "airlock: installing$need from Debian (once)" >&2
# No default cluster: postgresql-common reads this before creating "main" (man createcluster.conf).
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  $SUDO mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
# No services started by the packages' postinst: invoke-rc.d obeys policy-rc.d exit code 101
# ("action forbidden", Debian policy-rc.d interface). Put one in place only for this install.
policy_added=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  policy_added=1
fi
cleanup() { if [ -n "$policy_added" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT INT TERM

$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086  # word splitting of $need is intended
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "airlock: PostgreSQL install did not provide initdb" >&2; exit 1; }
