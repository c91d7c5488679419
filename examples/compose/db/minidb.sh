#!/bin/sh
# A stand-in for a database: one file per key under /data.
set -eu
dir=${MINIDB_DIR:-/data}
case "${1:-}" in
  set) printf '%s\n' "$3" > "$dir/$2" ;;
  get) cat "$dir/$2" 2>/dev/null || echo "(no value for $2)" ;;
  *) echo "usage: minidb set KEY VALUE | get KEY" >&2; exit 2 ;;
esac
