#!/usr/bin/env bash
# Runs every command block of README.md and docs/*.md that is marked runnable, so documented commands cannot rot.
#
# A block is runnable when the line just before its opening fence is exactly `<!-- runnable -->`. Each runs from
# the repository root in a bash of its own with -euo pipefail, under a timeout (BLOBCACHE_DOCS_TIMEOUT seconds,
# default 900). Keep runnable blocks short: the demo, --help, smoke-sized runs.
#
# The test command (./test.sh) is never run from here, since CI runs it once itself: a block line that is that
# command is checked to be what .ci/run calls instead. Any other line that would run the tests is an error.
set -euo pipefail
cd "$(dirname "$0")/.."

test_command=./test.sh
limit=${BLOBCACHE_DOCS_TIMEOUT:-900}
blocks=$(mktemp -d)
trap 'rm -rf "$blocks"' EXIT

awk -v dir="$blocks" '
  FNR == 1 { marked = 0; inside = 0 }
  inside && /^```/ { inside = 0; close(out); next }
  inside { print > out; next }
  /^<!-- runnable -->[ \t]*$/ { marked = 1; next }
  marked && /^```(sh|bash)?[ \t]*$/ {
    n++; out = sprintf("%s/%03d", dir, n)
    print FILENAME ":" FNR + 1 > (out ".where"); close(out ".where")
    printf "" > out
    inside = 1; marked = 0; next
  }
  { marked = 0 }
' README.md docs/*.md

shopt -s nullglob
found=("$blocks"/[0-9][0-9][0-9])
if [ ${#found[@]} -eq 0 ]; then
  echo "check-docs: no runnable blocks found (mark one with <!-- runnable --> on the line before its fence)" >&2
  exit 1
fi

# Whether .ci/run has a line that starts with the command (output may be piped on from there).
ci_runs() {
  awk -v c="$1" '{ sub(/^[ \t]+/, "") }
    index($0, c) == 1 && (length($0) == length(c) || substr($0, length(c) + 1, 1) ~ /[ \t|;&]/) { found = 1 }
    END { exit !found }' .ci/run
}

failures=()
for block in "${found[@]}"; do
  where=$(cat "$block.where")
  script="$block.sh"
  : > "$script"
  while IFS= read -r line || [ -n "$line" ]; do
    command=$(printf '%s' "${line%%#*}" | sed -e 's/[[:space:]]*$//' -e 's/^[[:space:]]*//')
    if [ "$command" = "$test_command" ]; then
      if ! ci_runs "$test_command"; then
        failures+=("$where: the test command '$test_command' is not what .ci/run runs")
      fi
      continue
    fi
    case "$command" in
      *"dotnet test"* | *"$test_command"*)
        failures+=("$where: a runnable block must not run the tests ('$command'); CI runs them once through $test_command")
        continue ;;
    esac
    printf '%s\n' "$line" >> "$script"
  done < "$block"
  echo "== docs: $where"
  sed 's/^/   $ /' "$script"
  started=$SECONDS
  set +e
  timeout "$limit" bash -euo pipefail "$script"
  status=$?
  set -e
  echo "== docs: $where: exit $status after $((SECONDS - started)) s"
  if [ "$status" -eq 124 ]; then
    failures+=("$where: timed out after ${limit} s")
  elif [ "$status" -ne 0 ]; then
    failures+=("$where: exited with $status")
  fi
done

if [ ${#failures[@]} -gt 0 ]; then
  printf 'check-docs: %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "check-docs: ${#found[@]} runnable blocks ran"
