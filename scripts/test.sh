#!/usr/bin/env bash
# Runs every test: unit, integration (against a real PostgreSQL) and documentation tests.
# On a fresh machine it starts the local PostgreSQL cluster if it is not running, and fails
# if PostgreSQL stays unreachable: database tests are never skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

reachable() {
  if command -v psql >/dev/null 2>&1; then
    psql "$DATABASE_URL" -qtAX -c 'SELECT 1' >/dev/null 2>&1
  else # no client tools: at least the port must answer
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
  fi
}
if ! reachable && command -v pg_ctlcluster >/dev/null 2>&1; then
  for version in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do reachable && break; sleep 1; done
fi
if ! reachable; then
  echo "PostgreSQL is not reachable at $DATABASE_URL: the tests need a real database." >&2
  exit 1
fi

# The admin's browser tests drive headless Chromium through chromedriver (Debian's).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
command -v cargo-nextest >/dev/null 2>&1 || cargo install cargo-nextest --locked
# Documentation examples first: the suite's own summary should close the output.
cargo test --workspace --doc
cargo nextest run --workspace --no-fail-fast
