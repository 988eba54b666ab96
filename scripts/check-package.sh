#!/usr/bin/env bash
# Fails unless the PostgreSQL driver's package carries every migration of
# migrations/postgres/ (the crate embeds them; a package without them would not build).
set -euo pipefail
cd "$(dirname "$0")/.."
listed=$(cargo package --list -p zart-postgres --allow-dirty 2>/dev/null)
missing=0
for file in migrations/postgres/*.sql; do
  if ! grep -qx "migrations/$(basename "$file")" <<<"$listed"; then
    echo "package check: zart-postgres does not package $file" >&2
    missing=1
  fi
done
if [ "$missing" -ne 0 ]; then exit 1; fi
echo "package check: zart-postgres packages its $(ls migrations/postgres/*.sql | wc -l) migrations"
