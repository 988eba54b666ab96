#!/usr/bin/env bash
# Fails unless each driver's package carries every migration of its folder in migrations/
# (the crates embed them; a package without them would not build).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=0
for driver in postgres sqlite; do
  listed=$(cargo package --list -p "zart-$driver" --allow-dirty 2>/dev/null)
  for file in migrations/$driver/*.sql; do
    if ! grep -qx "migrations/$(basename "$file")" <<<"$listed"; then
      echo "package check: zart-$driver does not package $file" >&2
      missing=1
    fi
  done
  echo "package check: zart-$driver packages its $(ls migrations/$driver/*.sql | wc -l) migrations"
done
if [ "$missing" -ne 0 ]; then exit 1; fi
