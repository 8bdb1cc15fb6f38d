# shellcheck shell=bash
# The pinned buf, installed from npm into .local/buf on first use; sourced
# by scripts/buf-lint.sh and scripts/buf-breaking.sh from the repository's
# root. Sets BUF.
BUF_VERSION=1.75.0
BUF_PREFIX=.local/buf
BUF="$BUF_PREFIX/node_modules/.bin/buf"

ensure_buf() {
  if ! { [[ -x $BUF ]] && [[ "$("$BUF" --version 2>/dev/null)" == "$BUF_VERSION" ]]; }; then
    command -v npm >/dev/null || { echo "buf: npm not found (Debian: apt-get install -y npm)" >&2; exit 2; }
    mkdir -p "$BUF_PREFIX"
    npm install --prefix "$BUF_PREFIX" --no-audit --no-fund --loglevel=error \
      "@bufbuild/buf@$BUF_VERSION" >&2
  fi
}
