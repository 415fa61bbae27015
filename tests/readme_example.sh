#!/usr/bin/env bash
# Extracts the C example between the example markers in README.md, compiles it against the
# shared libcbr (so the exported symbols are checked too), runs it, and checks the output the
# README's comment promises, so the README cannot drift from the library.
set -euo pipefail
BUILD=${BUILD:-build}
CC=${CC:-gcc}
out=$BUILD/readme
mkdir -p "$out"
awk '/<!-- example:begin -->/{on=1; next} /<!-- example:end -->/{on=0} on' README.md \
    | sed '/^```/d' > "$out/example.c"
[ -s "$out/example.c" ] || { echo "README.md has no example between the markers"; exit 1; }
"$CC" -std=c11 -Wall -Wextra -Werror -Ihost/include "$out/example.c" -o "$out/example" \
    -L"$BUILD/lib" -lcbr -Wl,-rpath,"$(cd "$BUILD/lib" && pwd)" -lm -lpthread
expect=$(sed -n 's/.*printf("%d ", y\[i\]);.*\/\* \(.*\) \*\//\1/p' "$out/example.c")
got=$("$out/example")
echo "README example printed: $got"
case "$got" in
    "$expect "*) echo "1 passed, 0 failed" ;;
    *) echo "expected it to start with: $expect"; echo "0 passed, 1 failed"; exit 1 ;;
esac
