#!/usr/bin/env bash
# Runs every Go fuzz target (func FuzzXxx in a _test.go file) of the given
# module directories for $FUZZTIME each. `go test -fuzz` takes one target
# of one package at a time, hence the loop.
set -euo pipefail

fuzztime=${FUZZTIME:-20s}
# Go minimizes each new interesting input for up to 60 s by default, which
# can eat a short run whole; a crasher is still minimized this long.
minimize=${FUZZMINIMIZETIME:-5s}
found=0
for mod in "$@"; do
	while IFS= read -r file; do
		dir=$(dirname "$file")
		for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
			found=$((found + 1))
			echo "== fuzz $name in $dir for $fuzztime"
			(cd "$mod" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "./${dir#"$mod"/}")
		done
	done < <(grep -rl --include='*_test.go' '^func Fuzz' "$mod" | sort)
done
echo "fuzz: $found target(s) run for $fuzztime each"
