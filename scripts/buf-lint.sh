#!/usr/bin/env bash
# Lint proto/ with buf (rules in buf.yaml). Installs the pinned buf from npm
# into .local/buf on first use. Extra arguments go to `buf lint`, e.g.
# `scripts/buf-lint.sh --error-format=json`.
set -euo pipefail

cd "$(dirname "$0")/.."

BUF_VERSION=1.75.0
BUF_PREFIX=.local/buf
BUF="$BUF_PREFIX/node_modules/.bin/buf"

if ! { [[ -x $BUF ]] && [[ "$("$BUF" --version 2>/dev/null)" == "$BUF_VERSION" ]]; }; then
  command -v npm >/dev/null || { echo "buf-lint: npm not found (Debian: apt-get install -y npm)" >&2; exit 2; }
  mkdir -p "$BUF_PREFIX"
  npm install --prefix "$BUF_PREFIX" --no-audit --no-fund --loglevel=error \
    "@bufbuild/buf@$BUF_VERSION" >&2
fi

"$BUF" lint "$@"
echo "buf lint: ok ($(find proto -name '*.proto' | wc -l) files)"
