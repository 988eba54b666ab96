#!/usr/bin/env bash
# Fails when a rule of the architecture (../shared/ARCHITECTURE.md, "Rules that keep it this
# way") breaks: a crate depending on one above it, sqlx outside the drivers, an engine
# module of `zart` importing a driver or the face.
set -euo pipefail
cd "$(dirname "$0")/.."
failed=0
fail() { echo "layer check: $*" >&2; failed=1; }

# The crates each crate may not reach through its normal dependencies.
deps() {
  local tree
  # Cargo refuses a dependency cycle: then the tree cannot be read, and that is a failure too.
  tree=$(cargo tree -p "$1" -e normal --prefix none --format '{p}') || return 1
  awk '{print $1}' <<<"$tree" | sort -u
}
forbid() { # crate, forbidden dependency, why
  local found
  if ! found=$(deps "$1"); then fail "cannot read the dependencies of $1 (a cycle between crates?)"; return; fi
  if grep -qx "$2" <<<"$found"; then fail "$1 depends on $2: $3"; fi
}
for crate in zart-schedule zart-core zart-store-tests zart-sqlite; do
  forbid "$crate" sqlx "sqlx belongs to the PostgreSQL driver only"
done
for crate in zart-schedule zart-core zart-store-tests zart-postgres; do
  forbid "$crate" rusqlite "rusqlite belongs to the SQLite driver only"
done
for crate in zart-core zart-schedule zart-macros; do
  forbid "$crate" zart "$crate sits below zart"
  for driver in zart-postgres zart-sqlite; do
    forbid "$crate" "$driver" "$crate sits below the drivers"
  done
done
for driver in zart-postgres zart-sqlite; do
  forbid "$driver" zart "a driver stands on zart-core, never on the engine"
  forbid zart-store-tests "$driver" "the conformance suite runs against every driver unchanged"
done
forbid zart-postgres zart-sqlite "drivers stand beside each other"
forbid zart-sqlite zart-postgres "drivers stand beside each other"
forbid zart-store-tests zart "the conformance suite is written against the contract (zart-core) only"
forbid zart-schedule zart-core "time math knows no store"

# The admin and the CLI stand on zart alone: no driver, no contract crate, no SQL crate of
# their own (they reach all of it through zart's face).
direct() { cargo tree -p "$1" -e normal --depth 1 --prefix none --format '{p}' | awk 'NR > 1 {print $1}' | sort -u; }
for top in zart-admin zart-cli; do
  if ! found=$(direct "$top"); then fail "cannot read the dependencies of $top"; continue; fi
  for below in zart-core zart-postgres zart-sqlite zart-schedule sqlx rusqlite; do
    if grep -qx "$below" <<<"$found"; then fail "$top depends on $below directly: it uses only what zart offers"; fi
  done
done
forbid zart zart-admin "the admin sits above zart"

# Inside zart: the engine's modules never import a driver or the face (the client, typed
# handles, the public views and re-exports of lib.rs). Comment lines (doc links) aside.
engine=(zart/src/worker zart/src/durable zart/src/recurring zart/src/enqueue.rs
        zart/src/error.rs zart/src/inject.rs zart/src/observe.rs zart/src/registry.rs
        zart/src/retry.rs zart/src/task.rs)
face='zart_postgres|zart_sqlite|crate::(client|definition|inspect|scheduler|store|__private|prelude|postgres|sqlite|schedule)\b|crate::[A-Z]'
if hits=$(grep -rnE "$face" "${engine[@]}" | grep -vE '^[^:]+:[0-9]+:\s*//'); then
  fail "an engine module imports a driver or the face:"
  echo "$hits" >&2
fi

# The root of zart holds the few names nearly every program needs: the names its `pub use`
# lines export (the prelude module aside) stay at 25 or fewer.
root_names=$(awk '
  /^pub mod prelude/ { exit }
  /^pub use / { statement = ""; collecting = 1 }
  collecting { statement = statement $0 }
  collecting && /;/ {
    collecting = 0
    sub(/^pub use /, "", statement); sub(/;.*/, "", statement)
    if (statement ~ /\{/) { sub(/^[^{]*\{/, "", statement); sub(/\}.*/, "", statement) }
    else { sub(/.* as /, "", statement); sub(/.*::/, "", statement) }
    n = split(statement, names, ",")
    for (i = 1; i <= n; i++) { gsub(/[ \t]/, "", names[i]); if (names[i] != "") print names[i] }
  }' zart/src/lib.rs)
count=$(grep -c . <<<"$root_names")
if [ "$count" -gt 25 ]; then
  fail "the root of zart exports $count names (at most 25): $(tr '\n' ' ' <<<"$root_names")"
fi

if [ "$failed" -ne 0 ]; then exit 1; fi
echo "layer check: the crates and zart's modules keep their layers; zart's root exports $count names"
