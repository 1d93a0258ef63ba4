#!/usr/bin/env bash
# The test command of the README and of CI: installs what the tests read through when it is missing, then runs
# every test and ends with the failed tests' names, one "failed: NAME" line each followed by its error message's first
# lines ("why: ..."), and one line,
# "tests: N passed, N failed".
#
# The tests start real parts: Azurite and AzCopy (npm, into tools/azurite and tools/azcopy) and, for the Python clients, Debian's Azure SDK,
# PyTorch, fsspec and aiohttp under /usr/bin/python3 (the python3 first on PATH may be another interpreter), and fuse3 for the mount. Packages come from
# apt-get, as root or through sudo; nothing already present is installed again.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "test.sh: installing ${missing[*]} needs root or sudo" >&2
    exit 1
  fi
}

debian_python_has() {
  [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import $1" 2>/dev/null
}

missing=()
debian_python_has azure.storage.blob || missing+=(python3-azure-storage)
debian_python_has torch || missing+=(python3-torch)
debian_python_has fsspec || missing+=(python3-fsspec)
debian_python_has aiohttp || missing+=(python3-aiohttp) # the asyncio SDK's transport, and fsspec's HTTP filesystem
command -v fusermount3 >/dev/null || missing+=(fuse3) # the mount tests mount through libfuse3
# AzCopy (a Go binary from npm) loads libsecret for its credential store.
{ ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q 'libsecret-1\.so\.0' || missing+=(libsecret-1-0)
azurite=tools/azurite/node_modules/.bin/azurite-blob
azcopy=tools/azcopy/node_modules/@azure-tools/azcopy-linux/dist/bin/azcopy_linux_amd64
if { [ ! -x "$azurite" ] || [ ! -f "$azcopy" ]; } && ! command -v npm >/dev/null; then missing+=(npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing what the tests need: ${missing[*]} (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ ! -x "$azurite" ]; then
  echo "== installing Azurite into tools/azurite (npm)"
  npm install --prefix tools/azurite --no-audit --no-fund --no-package-lock
fi
if [ ! -f "$azcopy" ]; then
  echo "== installing AzCopy into tools/azcopy (npm)"
  npm install --prefix tools/azcopy --no-audit --no-fund --no-package-lock
fi
chmod +x "$azcopy" # the package ships the binary without its execute bit

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test -c Release 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
# The failed tests by name, next to the summary, so a CI log cut to its end still says what broke.
# Each with the first lines of its error message, so a failure on a loaded CI machine can be read from the summary alone.
awk '/^[[:space:]]+Failed [A-Za-z_]/ { sub(/^[[:space:]]+Failed /, "failed: "); print; grab = 0; next }
     /^[[:space:]]+Error Message:/ { grab = 3; next }
     /^[[:space:]]+Stack Trace:/ { grab = 0; next }
     grab > 0 { sub(/^[[:space:]]+/, ""); print "why: " $0; grab-- }' "$log" || true
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"
