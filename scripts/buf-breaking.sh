#!/usr/bin/env bash
# `buf breaking` (FILE rules, buf.yaml) of proto/ as it is in the work tree
# against the protos of a base commit, so that an incompatible change to an
# event payload or an API (a field renumbered, retyped or removed, a
# message renamed...) fails `make lint` (docs/architecture.md §4,
# Versioning: such a change is a new v2 package instead).
#
# The base, first that applies:
#   1. RELAIS_BUF_AGAINST, any commit-ish (e.g. origin/release), if set;
#   2. the merge-base of HEAD with origin/main, else with main: on a branch,
#      what it started from, so only the branch's own changes are judged
#      (comparing with main's tip would also judge main's later changes,
#      reversed);
#   3. when that merge-base is HEAD itself (we are on main, as CI is on a
#      fresh clone of main: main compared with itself would prove nothing),
#      HEAD~1: the last commit's changes are judged;
#   4. HEAD~1 when there is no main to compare with (a detached clone);
#   5. otherwise (a shallow clone of one commit, no main): skipped, saying
#      so; nothing to compare with is not a failure.
# The base's protos are taken with `git archive` (not buf's `.git#...`
# input, which wants a `.git` directory: a worktree has a file, and a
# shallow clone may lack the branch), into a temporary directory.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/buf.sh
source scripts/lib/buf.sh

say() { echo "buf breaking: $*" >&2; }
commit() { git rev-parse -q --verify "$1^{commit}" 2>/dev/null; }

head=$(commit HEAD) || { say "not in a git checkout: skipped"; exit 0; }
base="" why=""
if [ -n "${RELAIS_BUF_AGAINST:-}" ]; then
  base=$(commit "$RELAIS_BUF_AGAINST") || { say "RELAIS_BUF_AGAINST=$RELAIS_BUF_AGAINST is no commit here"; exit 2; }
  why="RELAIS_BUF_AGAINST=$RELAIS_BUF_AGAINST"
else
  for ref in origin/main main; do
    tip=$(commit "$ref") || continue
    mb=$(git merge-base HEAD "$tip" 2>/dev/null) || continue
    if [ "$mb" != "$head" ]; then
      base=$mb why="the merge-base with $ref"
    elif parent=$(commit HEAD~1); then
      base=$parent why="HEAD~1 (HEAD is on $ref)"
    fi
    break
  done
  if [ -z "$base" ] && parent=$(commit HEAD~1); then
    base=$parent why="HEAD~1 (no main to compare with)"
  fi
fi
if [ -z "$base" ]; then
  say "no base commit to compare with (a shallow clone without main?): skipped"
  exit 0
fi
if ! git cat-file -e "$base:proto" 2>/dev/null; then
  say "$why ($(git rev-parse --short "$base")) has no proto/: skipped"
  exit 0
fi

ensure_buf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# buf.yaml too, when the base has it: the module layout of the base.
paths=(proto)
git cat-file -e "$base:buf.yaml" 2>/dev/null && paths+=(buf.yaml)
git archive --format=tar "$base" "${paths[@]}" | tar -x -C "$tmp"

"$BUF" breaking proto --against "$tmp/proto" "$@"
echo "buf breaking: ok against $why ($(git rev-parse --short "$base"))"
