#!/usr/bin/env bash
# Checks packaging/prometheus: `promtool check config` on prometheus.yml (and
# with it the rule files it names), `promtool check rules` on every rule file,
# then `promtool test rules` on the unit tests in tests/. Exits 77 (skipped)
# when promtool is not installed (scripts/install-deps.sh installs prometheus).
# Usage: packaging/prometheus/check-rules.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if ! command -v promtool >/dev/null; then
    echo "check-rules: promtool is not installed (Debian package prometheus); skipped"
    exit 77
fi
cd "$here"
promtool check config prometheus.yml
promtool check rules rules/*.yml
promtool test rules tests/*.yml
