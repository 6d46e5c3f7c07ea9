#!/usr/bin/env bash
# npm start: local Kafka + registry, build, then the three services in the foreground.
#
# Ctrl-C (SIGINT), SIGTERM or SIGHUP stops the services through their own drain: each gets one
# SIGTERM, finishes its records in flight, commits, leaves its consumer group, prints its shutdown
# line and exits with 0. Kafka and the registry keep running (`npm run infra:down` stops them).
# The script exits with 0 when every service did, else 1.
set -euo pipefail
cd "$(dirname "$0")/.."

apps=(preprocessor inference gateway)
port="${GATEWAY_PORT:-3000}"

if [ "${INFRA_EXTERNAL:-0}" != "1" ]; then bash infra/infra.sh up; fi

echo "[start] building ${apps[*]}..."
for app in "${apps[@]}"; do
  if ! out="$(npx nest build "$app" 2>&1)"; then
    printf '%s\n' "$out" >&2
    echo "[start] ERROR: nest build $app failed" >&2
    exit 1
  fi
done

# Each service runs in a session of its own (setsid), so the terminal's Ctrl-C reaches only this
# script, which then stops each service once. Its output goes through a prefixer that ignores
# SIGINT and SIGTERM and ends when the service closes its output, so no shutdown line is lost and
# no service ever writes into a closed pipe.
pids=()
for app in "${apps[@]}"; do
  setsid node "dist/apps/$app/apps/$app/src/main.js" \
    > >(trap '' INT TERM; exec sed -u "s/^/[$app] /") 2>&1 < /dev/null &
  pids+=("$!")
done

stopping=""
stop() {
  [ -n "$stopping" ] && return 0
  stopping=1
  echo "[start] stopping the services (Kafka and the registry keep running; npm run infra:down stops them)..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM HUP

alive() {
  local n=0 pid
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && n=$((n + 1)); done
  echo "$n"
}

# Until every service has exited: announce the gateway once it is ready; if one service exits on
# its own (a bad setting, say), stop the others rather than leave a broken pipeline running.
announced=""
while [ "$(alive)" -gt 0 ]; do
  if [ -z "$stopping" ] && [ "$(alive)" -lt "${#pids[@]}" ]; then
    echo "[start] a service exited on its own" >&2
    stop
  fi
  if [ -z "$announced$stopping" ] && curl -fs "http://localhost:$port/health/ready" > /dev/null 2>&1; then
    announced=1
    echo
    echo "gateway ready: http://localhost:$port"
    echo "  try: curl -s localhost:$port/predict -H 'content-type: application/json' -d '{\"text\":\"Win a FREE prize now!!!\"}'"
    echo "  Ctrl-C stops the services"
  fi
  sleep 0.5 &
  wait "$!" || true
done

# The prefixers end with their service's output: give them a moment to print its last lines.
sleep 0.5
status=0
for i in "${!apps[@]}"; do
  code=0
  wait "${pids[$i]}" || code=$?
  echo "[start] ${apps[$i]} exited with code $code"
  [ "$code" -eq 0 ] || status=1
done
exit "$status"
