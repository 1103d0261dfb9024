#!/usr/bin/env bash
# Installs the servers and runtimes the tests and benchmarks use for real, only where missing:
# redis-server, Chromium (browser tests), a Java runtime (Spark), wrk (load generator),
# PostgreSQL (the postgresql:// source is tested against a real server the test starts).
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
  || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] && ! command -v sudo >/dev/null 2>&1; then
  echo "install-system-deps: missing ${need[*]} and not root; tests that need them will skip" >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" = "0" ] || SUDO=sudo
echo "install-system-deps: installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
