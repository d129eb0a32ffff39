#!/usr/bin/env bash
# Replaces the lines between "<!-- BEGIN GENERATED: NAME -->" and
# "<!-- END GENERATED: NAME -->" in FILE with standard input (the markers stay).
#   bench/replace_section.sh NAME FILE < text
# Exit 3 (FILE unchanged) when FILE has no such section.
set -euo pipefail
[ $# = 2 ] || { echo "usage: $0 NAME FILE < text" >&2; exit 2; }
name=$1 file=$2
b="<!-- BEGIN GENERATED: $name -->" e="<!-- END GENERATED: $name -->"
if ! grep -qxF "$b" "$file" || ! grep -qxF "$e" "$file"; then
    echo "replace_section: $file has no section $name" >&2
    exit 3
fi
gen=$(mktemp)
trap 'rm -f "$gen" "$file.tmp.$$"' EXIT
cat > "$gen"
awk -v b="$b" -v e="$e" -v g="$gen" \
    '$0 == b {print; while ((getline l < g) > 0) print l; skip = 1; next} $0 == e {skip = 0} !skip' "$file" > "$file.tmp.$$"
mv "$file.tmp.$$" "$file"
echo "replace_section: $file section $name updated" >&2
