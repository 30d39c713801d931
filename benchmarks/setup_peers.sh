#!/usr/bin/env bash
# Create the benchmark environment: a venv with gfetch (editable) and its peers.
#
#   bash benchmarks/setup_peers.sh [VENV]      # default /tmp/gfetch-bench, or $GFETCH_BENCH_VENV
#   bash benchmarks/setup_peers.sh --nginx     # also apt-get install nginx (needs root, Debian/Ubuntu)
#
# The peers (grequests + gevent, requests-futures, httpx, aiohttp, pycurl) are never
# gfetch dependencies: they live only in this venv. sniffio is for httpx: without
# it, httpcore retries a failing "import sniffio" on every request. trustme makes
# the throw-away CA of the HTTPS scenarios. pycurl installs as a wheel with its own
# libcurl; where there is none, pip builds it (Debian: libcurl4-openssl-dev libssl-dev).
# Without nginx, benchmarks/compare.py falls back to a built-in keep-alive server
# and skips the HTTPS scenarios.
set -euo pipefail
cd "$(dirname "$0")/.."

install_nginx=0
venv="${GFETCH_BENCH_VENV:-/tmp/gfetch-bench}"
for arg in "$@"; do
    case "$arg" in
        --nginx) install_nginx=1 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "setup_peers.sh: unknown option $arg (use --nginx or a venv path)" >&2; exit 2 ;;
        *) venv="$arg" ;;
    esac
done

if [ "$install_nginx" -eq 1 ] && ! command -v nginx >/dev/null; then
    apt-get update -qq && apt-get install -y -qq nginx
fi

python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e . grequests gevent requests-futures httpx sniffio aiohttp pycurl \
    trustme

"$venv/bin/python" - <<'EOF'
import importlib.metadata as md
for name in ["gfetch", "requests", "urllib3", "greenlet", "gevent", "grequests", "requests-futures",
             "httpx", "aiohttp", "sniffio", "pycurl", "trustme"]:
    print(f"{name:18} {md.version(name)}")
import pycurl
print(f"{'libcurl':18} {pycurl.version_info()[1]} ({pycurl.version_info()[5]})")
EOF
if command -v nginx >/dev/null; then
    echo "nginx              $(nginx -v 2>&1 | sed 's/.*nginx\///')"
else
    echo "nginx              not installed: compare.py will use its built-in server (--nginx installs it)"
fi
echo
echo "ready: $venv/bin/python benchmarks/compare.py"
