#!/bin/sh
# Makes sure a Lua 5.1 interpreter (Debian's lua5.1) is installed, for the Argo CD health-check tests
# (test/gitops/argocd-health.test.ts). Argo CD runs health scripts in gopher-lua, a Lua 5.1
# implementation, so the reference 5.1 interpreter is the closest real one: a script that relies on
# 5.2+ (goto, integer division //, table.unpack) fails here as it would in Argo CD. Prints its path.
set -eu
if command -v lua5.1 >/dev/null 2>&1; then command -v lua5.1; exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
  else echo "airlock: need Debian package lua5.1 — apt-get install -y lua5.1, or run as root" >&2; exit 1; fi
fi
command -v apt-get >/dev/null 2>&1 || { echo "airlock: need lua5.1 but this machine has no apt-get" >&2; exit 1; }
echo "airlock: installing lua5.1 from Debian (once)" >&2
# One test process at a time: two concurrent apt-get runs would fight over the dpkg lock.
exec 9>/tmp/airlock-ensure-lua.lock
flock 9
if ! command -v lua5.1 >/dev/null 2>&1; then
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lua5.1 >/dev/null
fi
command -v lua5.1
