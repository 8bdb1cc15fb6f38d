#!/usr/bin/env bash
# Lint proto/ with buf (rules in buf.yaml). Installs the pinned buf from npm
# into .local/buf on first use (scripts/lib/buf.sh). Extra arguments go to
# `buf lint`, e.g. `scripts/buf-lint.sh --error-format=json`.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/buf.sh
source scripts/lib/buf.sh
ensure_buf

"$BUF" lint "$@"
echo "buf lint: ok ($(find proto -name '*.proto' | wc -l) files)"
