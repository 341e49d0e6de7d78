#!/usr/bin/env bash
# check-format.sh — fails when a tracked C++ file differs from what
# clang-format makes of it with the repository's .clang-format (layout and
# include order). Fix with: clang-format -i FILE...
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
  echo "check-format: clang-format is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files '*.cpp' '*.h')
if ((${#files[@]} == 0)); then
  echo "check-format: no C++ files found (not a git checkout?)" >&2
  exit 1
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/l0l3-format.log; then
  grep -E '^[^ ].*: (error|warning):' /tmp/l0l3-format.log | cut -d: -f1 | sort | uniq -c | sed 's/^/check-format: lines to change in /' >&2
  echo "check-format: run clang-format -i on the files above" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted as .clang-format says"
