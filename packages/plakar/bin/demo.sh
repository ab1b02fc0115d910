#!/usr/bin/env bash
# The main job of @poolp/plakar, as a user runs it: back up a directory to the default
# repository (~/.plakar, created on first use) and restore it, then check the restored
# copy is identical. The passphrase comes from PLAKAR_PASSPHRASE (a demo one if unset).
# Needs the build (dist/plakar.js): run `pnpm build` first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PLAKAR_PASSPHRASE="${PLAKAR_PASSPHRASE:-plakar demo passphrase}"
plakar() {
  echo "\$ plakar $*" | sed "s|$work|\$WORK|g"
  ./dist/plakar.js "$@"   # as an installed plakar runs: through its #! line
}

work=$(mktemp -d /tmp/plakar-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

# A small tree: text files, a binary file, an empty directory, a symlink, a hard link,
# a sparse file, a name with spaces and one that is not UTF-8.
tree="$work/project"
mkdir -p "$tree/src/lib" "$tree/docs" "$tree/empty"
for i in $(seq 1 40); do
  printf 'export function f%d(x) {\n  return x * %d\n}\n' "$i" "$i" >"$tree/src/lib/module-$i.js"
done
printf '# Project\n\nBacked up with plakar.\n' >"$tree/README.md"
head -c 300000 /dev/urandom >"$tree/docs/figure.bin"
ln -s ../README.md "$tree/docs/readme-link"
ln "$tree/README.md" "$tree/docs/README-hardlink.md"
truncate -s 8M "$tree/docs/sparse.img"
echo "spaces" >"$tree/docs/a name with spaces.txt"
echo "latin-1" >"$tree/docs/caf$(printf '\xe9').txt"

[ -e "$HOME/.plakar" ] || plakar create
plakar push -tag demo "$tree"
plakar ls
plakar ls "latest:$tree/docs"
plakar cat "latest:$tree/README.md"
plakar pull -path "$work/restored" -rebase "latest:$tree"

diff -r --no-dereference "$tree" "$work/restored/project"
echo "OK: the restored copy of $tree is identical (diff -r found no difference)."
