#!/usr/bin/env bash
# Runs every test: unit, integration (against a real PostgreSQL) and documentation tests.
# On a fresh machine it starts the local PostgreSQL cluster if it is not running, and fails
# if PostgreSQL stays unreachable: database tests are never skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

# The server, reached through its maintenance database: the tests' own may not exist yet.
database="${DATABASE_URL##*/}"
database="${database%%\?*}"
server_url="${DATABASE_URL%/*}/postgres"
reachable() {
  if command -v psql >/dev/null 2>&1; then
    psql "$server_url" -qtAX -c 'SELECT 1' >/dev/null 2>&1
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
  echo "PostgreSQL is not reachable at ${server_url}: start the server (pg_ctlcluster <version> main start) or set DATABASE_URL to one that runs; the tests need a real database." >&2
  exit 1
fi
if command -v psql >/dev/null 2>&1; then
  # psql quotes the name (variables are interpolated in what it reads, not in -c).
  exists=$(psql "$server_url" -qtAX -v name="$database" <<<"SELECT 1 FROM pg_database WHERE datname = :'name'")
  if [ "$exists" != "1" ]; then
    echo "creating the tests' database \"$database\""
    psql "$server_url" -qtAX -v ON_ERROR_STOP=1 -v name="$database" <<<'CREATE DATABASE :"name"' >/dev/null || {
      echo "cannot create the database \"$database\" on ${server_url}: create it, or set DATABASE_URL to one that exists." >&2
      exit 1
    }
  fi
fi

# The admin's browser tests drive headless Chromium through chromedriver (Debian's).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || {
    echo "Chromium and chromedriver are missing and could not be installed: install Debian's chromium and chromium-driver (the admin's browser tests need them)." >&2
    exit 1
  }
fi
# The producer functions' tests run producers in Python (psycopg 3) and Node (node-postgres),
# pinned here and in tests/other_languages/package-lock.json.
if ! python3 -c 'import psycopg' >/dev/null 2>&1; then
  python3 -m pip install --quiet --root-user-action=ignore 'psycopg[binary]==3.3.9' || {
    echo "psycopg is missing and could not be installed: run python3 -m pip install 'psycopg[binary]==3.3.9' (the tests of tests/other_languages need it)." >&2
    exit 1
  }
fi
if [ ! -d tests/other_languages/node_modules/pg ]; then
  npm ci --prefix tests/other_languages --no-audit --no-fund --silent || {
    echo "node-postgres could not be installed: run npm ci --prefix tests/other_languages with Node and npm on the PATH (the tests of tests/other_languages need it)." >&2
    exit 1
  }
fi
command -v cargo-nextest >/dev/null 2>&1 || cargo install cargo-nextest --locked
# Documentation examples first: the suites' summaries should close the output.
cargo test --workspace --doc
cargo nextest run --workspace --no-fail-fast

# Two applications that add Zart beside a sqlx pool of their own, one on sqlx 0.8.6 and one
# on 0.9 (compat/README.md): projects outside the workspace, each with its own lock file,
# built into one target folder so that the crates they share build once.
passed=0
failed=0
for app in sqlx-0.8 sqlx-0.9; do
  if CARGO_TARGET_DIR=target/compat cargo run --locked --quiet --manifest-path "compat/$app/Cargo.toml"; then
    passed=$((passed + 1))
  else
    echo "compat/$app failed (above: what it said)" >&2
    failed=$((failed + 1))
  fi
done
echo "compat: $passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then exit 1; fi
