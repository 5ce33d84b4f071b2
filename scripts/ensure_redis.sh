#!/usr/bin/env bash
# Make sure a Redis answers at REDIS_URL (default redis://localhost:6379/0): start the distro's
# redis-server when none answers, installing it first with apt-get when missing and allowed.
set -euo pipefail
url="${REDIS_URL:-redis://localhost:6379/0}"
hostport="${url#redis://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=6379
if redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then exit 0; fi
case "$host" in localhost|127.0.0.1|::1) ;; *) echo "Redis at $url does not answer; start it or set REDIS_URL." >&2; exit 1;; esac
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing redis-server (apt-get)..."
    (apt-get install -y -q redis-server >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null; })
  else
    echo "Redis is not running and redis-server is not installed: run 'sudo apt-get install redis-server' (or 'brew install redis'), or set REDIS_URL." >&2
    exit 1
  fi
fi
mkdir -p var
echo "starting redis-server on $host:$port"
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$(pwd)/var" --save "" --appendonly no --logfile "$(pwd)/var/redis.log"
for _ in $(seq 50); do redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1 && exit 0; sleep 0.1; done
echo "redis-server did not come up; see var/redis.log" >&2; exit 1
