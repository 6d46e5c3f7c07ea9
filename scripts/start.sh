#!/usr/bin/env bash
# npm start: local Kafka + registry, build, then the three services in the foreground.
# Ctrl-C (or SIGTERM) stops the services gracefully; `npm run infra:down` stops Kafka and the registry.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${INFRA_EXTERNAL:-0}" != "1" ]; then bash infra/infra.sh up; fi
npx nest build gateway >/dev/null && npx nest build preprocessor >/dev/null && npx nest build inference >/dev/null

# A terminal gets readable lines; LOG_FORMAT=json npm start gives the JSON lines the services log by default.
export LOG_FORMAT="${LOG_FORMAT:-pretty}"
mkdir -p .infra/logs
pids=()
for app in preprocessor inference gateway; do
  node "dist/apps/$app/apps/$app/src/main.js" > >(sed -u "s/^/[$app] /") 2>&1 &
  pids+=($!)
done

stop() {
  echo "stopping services..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM

port="${GATEWAY_PORT:-3000}"
for _ in $(seq 1 120); do
  if curl -fs "http://localhost:$port/health/ready" >/dev/null 2>&1; then
    echo
    echo "gateway ready: http://localhost:$port  (open it in a browser: try a text, watch the pipeline)"
    echo "  try: curl -s localhost:$port/predict -H 'content-type: application/json' -d '{\"text\":\"Win a FREE prize now!!!\"}'"
    break
  fi
  sleep 1
done
wait "${pids[@]}"
