#!/usr/bin/env bash
# Local Kafka (KRaft, single node) + Apicurio Registry 3.x without Docker.
#
#   bash infra/infra.sh up      start both (downloads from Maven Central on first run)
#   bash infra/infra.sh down    stop what `up` started (registry first, then Kafka)
#   bash infra/infra.sh status  show what runs
#   bash infra/infra.sh up --secure   (or INFRA_SECURE=1) a SASL_SSL broker with SCRAM users and
#                                     least-privilege ACLs, state under .infra-secure/ (docs/security.md)
#   bash infra/infra.sh up --brokers 3  (or KAFKA_BROKER_COUNT=3) a replicated cluster of three KRaft
#                                     nodes on KAFKA_PORT, +2, +4 (controllers on KAFKA_CONTROLLER_PORT,
#                                     +2, +4), replication factor 3, min.insync.replicas 2
#
# Everything it creates lives under .infra/ (git-ignored): jars, data, pid files, logs.
# Docker users can use docker-compose.kafka.yml instead; ports and URLs are the same.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INFRA_SRC="$REPO_ROOT/infra"

# --- Settings (all overridable from the environment) -------------------------
INFRA_SECURE="${INFRA_SECURE:-0}"
KAFKA_BROKER_COUNT="${KAFKA_BROKER_COUNT:-1}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --secure) INFRA_SECURE=1 ;;
    --brokers) KAFKA_BROKER_COUNT="${args[i + 1]:-}"; i=$((i + 1)) ;;
    --brokers=*) KAFKA_BROKER_COUNT="${args[i]#--brokers=}" ;;
  esac
done
[[ "$KAFKA_BROKER_COUNT" =~ ^[1-9]$ ]] ||
  { echo "[infra] ERROR: --brokers / KAFKA_BROKER_COUNT must be a number from 1 to 9 (got '$KAFKA_BROKER_COUNT')" >&2; exit 2; }
if [[ "$INFRA_SECURE" == 1 && "$KAFKA_BROKER_COUNT" != 1 ]]; then
  echo "[infra] ERROR: --secure runs a single broker; it cannot be combined with --brokers $KAFKA_BROKER_COUNT" >&2
  exit 2
fi
if [[ "$INFRA_SECURE" == 1 ]]; then
  INFRA_DIR="${INFRA_DIR:-$REPO_ROOT/.infra-secure}"
else
  INFRA_DIR="${INFRA_DIR:-$REPO_ROOT/.infra}"
fi
KAFKA_VERSION="${KAFKA_VERSION:-3.9.2}"
APICURIO_VERSION="${APICURIO_VERSION:-3.3.3}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
APICURIO_PORT="${APICURIO_PORT:-8081}"
# Quarkus serves health/metrics on a separate management port (default 9000,
# which other dev tools like to use), so move it somewhere quieter.
APICURIO_MGMT_PORT="${APICURIO_MGMT_PORT:-8091}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
# C1 only: this broker is short-lived and shares a few cores with the services. Its C2 compiler
# threads took ~10 core-s in the first 80 s of paced bench traffic on 2 cores, and the paced tails
# formed while they ran (infra/README.md). Set KAFKA_JIT_OPTS= (empty) for the JVM's default tiers.
KAFKA_JIT_OPTS="${KAFKA_JIT_OPTS--XX:TieredStopAtLevel=1}"
APICURIO_HEAP_OPTS="${APICURIO_HEAP_OPTS:--Xms64m -Xmx384m}"
# The registry stores its schemas in Kafka (kafkasql), by default in the Kafka above.
# Node i (1-based) of a cluster listens on KAFKA_PORT + 2(i-1), its controller on
# KAFKA_CONTROLLER_PORT + 2(i-1); one broker keeps KAFKA_PORT and KAFKA_CONTROLLER_PORT.
node_port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }
node_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($1 - 1))); }
KAFKA_BOOTSTRAP="$(for ((n = 1; n <= KAFKA_BROKER_COUNT; n++)); do printf 'localhost:%s,' "$(node_port "$n")"; done)"
KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP%,}"
APICURIO_KAFKA_BOOTSTRAP="${APICURIO_KAFKA_BOOTSTRAP:-$KAFKA_BOOTSTRAP}"
START_TIMEOUT="${START_TIMEOUT:-120}"   # seconds to wait for each service
STOP_TIMEOUT="${STOP_TIMEOUT:-30}"      # seconds between SIGTERM and SIGKILL

KAFKA_DIR="$INFRA_DIR/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs-$KAFKA_VERSION"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
# A cluster (--brokers N > 1) keeps its nodes apart from the single broker's state.
CLUSTER_DIR="$KAFKA_DIR/cluster"
APICURIO_DIR="$INFRA_DIR/apicurio"
APICURIO_HOME="$APICURIO_DIR/$APICURIO_VERSION"
APICURIO_PID="$APICURIO_DIR/apicurio.pid"
LOG_DIR="$INFRA_DIR/logs"
REGISTRY_URL="http://localhost:$APICURIO_PORT/apis/ccompat/v7"

# --- Small helpers ------------------------------------------------------------
log() { printf '[infra] %s\n' "$*"; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# Major Java version of a java binary ("17", "25"; "1" for Java 8).
java_major() {
  "$1" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n1
}

# First java binary with at least the given major version. Checks JAVA_HOME,
# PATH, then the usual JDK install folders, because the registry needs a newer
# Java than the system default on many machines.
find_java() {
  local min="$1" candidate major
  for candidate in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java || true)" \
      /usr/lib/jvm/*/bin/java /Library/Java/JavaVirtualMachines/*/Contents/Home/bin/java; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    major="$(java_major "$candidate")"
    if [[ -n "$major" && "$major" -ge "$min" ]]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

require_mvn() {
  command -v mvn >/dev/null 2>&1 ||
    die "mvn (Apache Maven) is not installed; it is needed once to download Kafka/Apicurio from Maven Central. Install Maven, or use docker-compose.kafka.yml."
}

# True if something accepts TCP connections on localhost:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1
}

# Prints the pid from a pid file if that process is alive AND is the program we
# started (guards against a recycled pid after a reboot or crash).
live_pid() {
  local pidfile="$1" marker="$2" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  ps -o args= -p "$pid" 2>/dev/null | grep -q -- "$marker" || return 1
  echo "$pid"
}

registry_ready() {
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$REGISTRY_URL/subjects" 2>/dev/null)" == "200" ]]
}

# Starts a command in the background, detached from this terminal (so Ctrl-C in
# an npm script or closing the shell does not kill it), and records its pid.
start_detached() {
  local pidfile="$1" logfile="$2" workdir="$3"
  shift 3
  local launcher=(nohup)
  command -v setsid >/dev/null 2>&1 && launcher=(nohup setsid)
  rm -f "$pidfile"
  # Keep the previous run's log for post-mortems; start this one fresh so
  # readiness checks only see lines from this run.
  [[ -f "$logfile" ]] && mv -f "$logfile" "$logfile.prev"
  # The inner shell writes its own pid and then exec's java, so the pid file
  # holds the JVM's pid itself. fd 9 (our flock) is closed for the whole
  # background chain, or the JVM would hold the lock and block later calls.
  (
    cd "$workdir"
    # shellcheck disable=SC2016 # $$ and $@ must expand in the inner shell
    exec "${launcher[@]}" bash -c 'echo $$ > "$0"; exec "$@"' "$pidfile" "$@" \
      >"$logfile" 2>&1 </dev/null
  ) 9>&- &
  local tries=50
  while ((tries-- > 0)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  die "could not start process (no pid file $pidfile); see $logfile"
}

# Waits until "$@" succeeds, or the process dies, or the timeout runs out.
wait_until() {
  local name="$1" pidfile="$2" marker="$3" logfile="$4"
  shift 4
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@"; do
    if ! live_pid "$pidfile" "$marker" >/dev/null; then
      log "$name exited during startup. Last lines of $logfile:"
      tail -n 40 "$logfile" >&2 || true
      rm -f "$pidfile"
      die "$name failed to start"
    fi
    if ((SECONDS >= deadline)); then
      log "$name not ready after ${START_TIMEOUT}s. Last lines of $logfile:"
      tail -n 40 "$logfile" >&2 || true
      die "$name did not become ready in time (still running, pid $(cat "$pidfile")); run 'down' and check the log"
    fi
    sleep 1
  done
}

# SIGTERM, wait, then SIGKILL: only ever the pid we recorded ourselves.
stop_pid() {
  local name="$1" pidfile="$2" marker="$3" port="$4" pid
  if ! pid="$(live_pid "$pidfile" "$marker")"; then
    rm -f "$pidfile"
    if port_open "$port"; then
      log "$name: port $port is served by a process infra.sh did not start -> leaving it alone"
    else
      log "$name: not running"
    fi
    return 0
  fi
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$name: still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
  done
  rm -f "$pidfile"
  log "$name: stopped"
}


# --- Secure mode (INFRA_SECURE=1 / --secure) ------------------------------------
# A SASL_SSL client listener (SCRAM-SHA-256/512 and PLAIN over TLS), the KRaft controller on a
# localhost SASL_PLAINTEXT (PLAIN) listener only the broker principal knows, StandardAuthorizer
# with least-privilege ACLs (infra/kafka/secure-setup.js). Everything is generated here, locally:
# a CA and the broker's certificate (openssl), one random password per principal.
SECURE_DIR="$INFRA_DIR/secure"
SECURE_USERS=(admin broker gateway preprocessor inference)

secure_material() {
  command -v openssl >/dev/null 2>&1 || die "openssl is required for --secure (certificates are generated locally)"
  mkdir -p "$SECURE_DIR"
  chmod 700 "$SECURE_DIR"
  local user
  for user in "${SECURE_USERS[@]}"; do
    if [[ ! -s "$SECURE_DIR/$user.password" ]]; then
      (umask 077 && openssl rand -hex 24 >"$SECURE_DIR/$user.password")
    fi
  done
  if [[ ! -s "$SECURE_DIR/ca.pem" ]]; then
    log "secure: generating a local CA and certificates in $SECURE_DIR"
    (
      cd "$SECURE_DIR"
      umask 077
      openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 825 -keyout ca.key -out ca.pem \
        -subj "/CN=kafka-text-classifier local CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
      # "kafka": the broker's name on the docker-compose network (docker-compose.kafka.secure.yml).
      printf 'subjectAltName=DNS:localhost,DNS:kafka,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >broker.ext
      openssl req -newkey rsa:2048 -nodes -sha256 -keyout broker.key -out broker.csr -subj "/CN=localhost" 2>/dev/null
      openssl x509 -req -sha256 -days 825 -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -extfile broker.ext -out broker.pem 2>/dev/null
      # A client certificate, for clusters that ask for one (mutual TLS); the broker here only requests it.
      printf 'extendedKeyUsage=clientAuth\n' >client.ext
      openssl req -newkey rsa:2048 -nodes -sha256 -keyout client.key -out client.csr -subj "/CN=client" 2>/dev/null
      openssl x509 -req -sha256 -days 825 -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -extfile client.ext -out client.pem 2>/dev/null
      # Kafka's PEM keystore: the private key (PKCS#8, unencrypted, readable by this user only) then the chain.
      cat broker.key broker.pem ca.pem >broker-keystore.pem
      rm -f broker.csr client.csr broker.ext client.ext
      chmod 644 ca.pem
    ) || die "secure: openssl could not generate the certificates"
  fi
  # Ready-made client settings per principal: `set -a; . .infra-secure/secure/gateway.env; set +a`.
  for user in gateway preprocessor inference admin; do
    {
      echo "KAFKA_BROKERS=localhost:$KAFKA_PORT"
      echo "SCHEMA_REGISTRY_URL=$REGISTRY_URL"
      echo "KAFKA_SECURITY_PROTOCOL=SASL_SSL"
      echo "KAFKA_SSL_CA_FILE=$SECURE_DIR/ca.pem"
      echo "KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
      echo "KAFKA_SASL_USERNAME=$user"
      echo "KAFKA_SASL_PASSWORD_FILE=$SECURE_DIR/$user.password"
      echo "KAFKA_CREATE_TOPICS=0"
    } >"$SECURE_DIR/$user.env"
  done
  secure_docker_files
  # For the Java tools (ApiVersions check).
  (
    umask 077
    {
      echo "security.protocol=SASL_SSL"
      echo "sasl.mechanism=SCRAM-SHA-512"
      echo "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$(cat "$SECURE_DIR/admin.password")\";"
      echo "ssl.truststore.type=PEM"
      echo "ssl.truststore.location=$SECURE_DIR/ca.pem"
    } >"$SECURE_DIR/admin.properties"
  )
}

# docker-compose.kafka.secure.yml: the same listeners, users and ACLs for the apache/kafka image
# (PLAIN over TLS there: the image formats its storage itself, so SCRAM users cannot be added at
# format time). Paths are the container's (/etc/kafka/secrets = this folder).
secure_docker_files() {
  local broker_pw plain_users="" user d=/etc/kafka/secrets
  broker_pw="$(cat "$SECURE_DIR/broker.password")"
  for user in "${SECURE_USERS[@]}"; do
    plain_users+=" user_$user=\"$(cat "$SECURE_DIR/$user.password")\""
  done
  (
    umask 077
    {
      echo "KAFKA_LISTENERS=SASL_SSL://:29092,SASL_SSL_HOST://:9092,CONTROLLER://:9093"
      echo "KAFKA_ADVERTISED_LISTENERS=SASL_SSL://kafka:29092,SASL_SSL_HOST://localhost:9092"
      echo "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SASL_SSL_HOST:SASL_SSL"
      echo "KAFKA_INTER_BROKER_LISTENER_NAME=SASL_SSL"
      echo "KAFKA_SASL_ENABLED_MECHANISMS=PLAIN"
      echo "KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL=PLAIN"
      echo "KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL=PLAIN"
      echo "KAFKA_LISTENER_NAME_CONTROLLER_SASL_ENABLED_MECHANISMS=PLAIN"
      echo "KAFKA_LISTENER_NAME_CONTROLLER_PLAIN_SASL_JAAS_CONFIG=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"$broker_pw\" user_broker=\"$broker_pw\";"
      echo "KAFKA_LISTENER_NAME_SASL__SSL_PLAIN_SASL_JAAS_CONFIG=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"$broker_pw\"$plain_users;"
      echo "KAFKA_LISTENER_NAME_SASL__SSL__HOST_PLAIN_SASL_JAAS_CONFIG=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;"
      echo "KAFKA_SSL_KEYSTORE_TYPE=PEM"
      echo "KAFKA_SSL_KEYSTORE_LOCATION=$d/broker-keystore.pem"
      echo "KAFKA_SSL_TRUSTSTORE_TYPE=PEM"
      echo "KAFKA_SSL_TRUSTSTORE_LOCATION=$d/ca.pem"
      echo "KAFKA_SSL_CLIENT_AUTH=requested"
      echo "KAFKA_AUTHORIZER_CLASS_NAME=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
      echo "KAFKA_SUPER_USERS=User:admin;User:broker"
      echo "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND=false"
      echo "KAFKA_AUTO_CREATE_TOPICS_ENABLE=false"
      echo "KAFKA_CONNECTION_FAILED_AUTHENTICATION_DELAY_MS=1000"
    } >"$SECURE_DIR/docker-kafka.env"
    {
      echo "security.protocol=SASL_SSL"
      echo "sasl.mechanism=PLAIN"
      echo "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"$(cat "$SECURE_DIR/admin.password")\";"
      echo "ssl.truststore.type=PEM"
      echo "ssl.truststore.location=$d/ca.pem"
    } >"$SECURE_DIR/docker-admin.properties"
  )
  # What the container reads, in a folder of its own: the image runs as another user (uid 1000),
  # so these copies are readable by every local user (a dev machine's trade-off; on a shared host,
  # chown them to 1000 and chmod 600 instead). docker-kafka.env is read by compose itself.
  local out="$INFRA_DIR/docker-secrets"
  mkdir -p "$out"
  chmod 755 "$out"
  cp "$SECURE_DIR/ca.pem" "$SECURE_DIR/broker-keystore.pem" "$out/"
  mv "$SECURE_DIR/docker-admin.properties" "$out/admin.properties"
  chmod 644 "$out"/*
}

secure_server_properties() {
  local broker_pw plain_users="" user
  broker_pw="$(cat "$SECURE_DIR/broker.password")"
  for user in "${SECURE_USERS[@]}"; do
    plain_users+=" user_$user=\"$(cat "$SECURE_DIR/$user.password")\""
  done
  echo "listeners=SASL_SSL://localhost:$KAFKA_PORT,CONTROLLER://localhost:$KAFKA_CONTROLLER_PORT"
  echo "advertised.listeners=SASL_SSL://localhost:$KAFKA_PORT"
  echo "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
  echo "inter.broker.listener.name=SASL_SSL"
  echo "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN"
  echo "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512"
  echo "sasl.mechanism.controller.protocol=PLAIN"
  echo "listener.name.controller.sasl.enabled.mechanisms=PLAIN"
  echo "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"$broker_pw\" user_broker=\"$broker_pw\";"
  echo "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"$broker_pw\";"
  echo "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
  echo "listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;"
  echo "ssl.keystore.type=PEM"
  echo "ssl.keystore.location=$SECURE_DIR/broker-keystore.pem"
  echo "ssl.truststore.type=PEM"
  echo "ssl.truststore.location=$SECURE_DIR/ca.pem"
  echo "ssl.client.auth=requested"
  echo "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
  echo "super.users=User:admin;User:broker"
  echo "allow.everyone.if.no.acl.found=false"
  # Topics are created by the admin (secure-setup.js), never by a client's metadata request.
  echo "auto.create.topics.enable=false"
  # A failed login answers after this delay, so a wrong password cannot be tried at speed.
  echo "connection.failed.authentication.delay.ms=1000"
}

# `--add-scram` arguments: SCRAM-SHA-256 and -512 credentials for every principal, set at format time.
secure_scram_args() {
  local user pw mech
  for user in "${SECURE_USERS[@]}"; do
    pw="$(cat "$SECURE_DIR/$user.password")"
    for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
      printf '%s\n' "--add-scram" "$mech=[name=$user,password=$pw]"
    done
  done
}

# Topics and least-privilege ACLs, through the admin principal (kafkajs from node_modules).
secure_setup() {
  command -v node >/dev/null 2>&1 || die "node is required for --secure (ACLs are created by infra/kafka/secure-setup.js)"
  KAFKA_BROKERS="localhost:$KAFKA_PORT" SECURE_DIR="$SECURE_DIR" node "$INFRA_SRC/kafka/secure-setup.js" ||
    die "secure: could not create the topics and ACLs"
}

# --- Kafka ----------------------------------------------------------------------
KAFKA_MARKER="kafka.Kafka"
KAFKA_CP="$KAFKA_LIBS/*"
KAFKA_TOOLS_LOG="-Dlog4j.configuration=file:$INFRA_SRC/kafka/log4j-tools.properties"

kafka_java() {
  if [[ -n "${KAFKA_JAVA:-}" ]]; then
    [[ -x "$KAFKA_JAVA" ]] || die "KAFKA_JAVA=$KAFKA_JAVA is not an executable java binary"
    echo "$KAFKA_JAVA"
    return
  fi
  find_java 11 || die "Java 11+ is required for Kafka $KAFKA_VERSION but no 'java' was found. Install a JDK (17 recommended) or set KAFKA_JAVA=/path/to/java."
}

# Selects node $1 of the current layout: sets NODE_ID, NODE_NAME, NODE_PORT, NODE_CONTROLLER_PORT,
# NODE_DIR, NODE_DATA, NODE_PID, NODE_LOG. One broker keeps the paths it always had.
select_node() {
  NODE_ID="$1"
  NODE_PORT="$(node_port "$1")"
  NODE_CONTROLLER_PORT="$(node_controller_port "$1")"
  if [[ "$KAFKA_BROKER_COUNT" == 1 ]]; then
    NODE_NAME=kafka NODE_DIR="$KAFKA_DIR" NODE_DATA="$KAFKA_DATA" NODE_PID="$KAFKA_PID" NODE_LOG="$LOG_DIR/kafka.log"
    CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"
  else
    NODE_NAME="kafka-$1" NODE_DIR="$CLUSTER_DIR/node-$1" NODE_LOG="$LOG_DIR/kafka-$1.log"
    NODE_DATA="$NODE_DIR/data" NODE_PID="$NODE_DIR/kafka.pid"
    CLUSTER_ID_FILE="$CLUSTER_DIR/cluster.id"
  fi
}

quorum_voters() {
  local n voters=""
  for ((n = 1; n <= KAFKA_BROKER_COUNT; n++)); do voters+="$n@localhost:$(node_controller_port "$n"),"; done
  echo "${voters%,}"
}

# Cheap check, used while polling: the socket is open and the broker logged
# that startup finished (it accepts connections a bit before it serves them).
kafka_ready() {
  port_open "$NODE_PORT" && grep -q 'Kafka Server started' "$NODE_LOG" 2>/dev/null
}

# One real request after a fresh start: ApiVersions from the Kafka CLI classes.
kafka_api_check() {
  local extra=()
  [[ "$INFRA_SECURE" == 1 ]] && extra=(--command-config "$SECURE_DIR/admin.properties")
  "$JAVA_KAFKA" -Xmx128m -cp "$KAFKA_CP" "$KAFKA_TOOLS_LOG" \
    kafka.admin.BrokerApiVersionsCommand --bootstrap-server "localhost:$NODE_PORT" \
    "${extra[@]}" >/dev/null 2>&1
}

kafka_download() {
  [[ -f "$KAFKA_LIBS/.complete" ]] && return 0
  require_mvn
  log "kafka: downloading Kafka $KAFKA_VERSION jars via Maven (first run only)..."
  rm -rf "$KAFKA_LIBS.tmp"
  # A pom.xml in infra/kafka lists the broker + logging binding; Maven resolves
  # the rest. Download into a temp dir so an interrupted run is not half-cached.
  mvn -q -B -f "$INFRA_SRC/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS.tmp" \
    >"$LOG_DIR/mvn-kafka.log" 2>&1 ||
    { tail -n 30 "$LOG_DIR/mvn-kafka.log" >&2; die "Maven could not download Kafka $KAFKA_VERSION (see $LOG_DIR/mvn-kafka.log)"; }
  touch "$KAFKA_LIBS.tmp/.complete"
  rm -rf "$KAFKA_LIBS"
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
}

# Settings of a cluster: every partition and internal topic on min(3, N) nodes, and a write
# acknowledged by acks=all only once 2 of them have it, so one node can die without losing a
# record or stopping writes.
cluster_properties() {
  local rf=$((KAFKA_BROKER_COUNT < 3 ? KAFKA_BROKER_COUNT : 3))
  local isr=$((rf >= 3 ? 2 : 1))
  echo "default.replication.factor=$rf"
  echo "min.insync.replicas=$isr"
  echo "offsets.topic.replication.factor=$rf"
  echo "transaction.state.log.replication.factor=$rf"
  echo "transaction.state.log.min.isr=$isr"
}

kafka_configure() {
  # Generated copy of infra/kafka/server.properties with absolute paths and the
  # chosen ports (later keys win when Java loads a properties file).
  mkdir -p "$NODE_DATA"
  {
    cat "$INFRA_SRC/kafka/server.properties"
    echo
    echo "# --- appended by infra/infra.sh ---"
    echo "node.id=$NODE_ID"
    echo "log.dirs=$NODE_DATA"
    echo "controller.quorum.voters=$(quorum_voters)"
    if [[ "$INFRA_SECURE" == 1 ]]; then
      secure_server_properties
    else
      echo "listeners=PLAINTEXT://localhost:$NODE_PORT,CONTROLLER://localhost:$NODE_CONTROLLER_PORT"
      echo "advertised.listeners=PLAINTEXT://localhost:$NODE_PORT"
    fi
    [[ "$KAFKA_BROKER_COUNT" == 1 ]] || cluster_properties
  } >"$NODE_DIR/server.properties"
  chmod 600 "$NODE_DIR/server.properties"

  # KRaft needs its storage formatted once with a cluster id (one id for all nodes of a
  # cluster); keep the id so restarts reuse the same data (and the schemas stored in it).
  if [[ ! -s "$CLUSTER_ID_FILE" ]]; then
    "$JAVA_KAFKA" -cp "$KAFKA_CP" "$KAFKA_TOOLS_LOG" \
      kafka.tools.StorageTool random-uuid >"$CLUSTER_ID_FILE.tmp"
    grep -Eq '^[A-Za-z0-9_-]{22}$' "$CLUSTER_ID_FILE.tmp" ||
      die "kafka: could not generate a cluster id (got: $(head -c 200 "$CLUSTER_ID_FILE.tmp"))"
    mv "$CLUSTER_ID_FILE.tmp" "$CLUSTER_ID_FILE"
  fi
  if [[ ! -f "$NODE_DATA/meta.properties" ]]; then
    log "$NODE_NAME: formatting storage in $NODE_DATA"
    local scram=()
    [[ "$INFRA_SECURE" == 1 ]] && mapfile -t scram < <(secure_scram_args)
    "$JAVA_KAFKA" -cp "$KAFKA_CP" "$KAFKA_TOOLS_LOG" \
      kafka.tools.StorageTool format --ignore-formatted "${scram[@]}" \
      -t "$(cat "$CLUSTER_ID_FILE")" -c "$NODE_DIR/server.properties" \
      >"$LOG_DIR/$NODE_NAME-format.log" 2>&1 ||
      { tail -n 20 "$LOG_DIR/$NODE_NAME-format.log" >&2; die "kafka storage format failed (see $LOG_DIR/$NODE_NAME-format.log)"; }
  fi
}

# A cluster's quorum is fixed when its storage is formatted: refuse to start it with another size.
cluster_layout_check() {
  [[ "$KAFKA_BROKER_COUNT" == 1 ]] && return 0
  live_pid "$KAFKA_PID" "$KAFKA_MARKER" >/dev/null &&
    die "kafka: the single broker of $INFRA_DIR is running; run 'down' before starting a cluster"
  mkdir -p "$CLUSTER_DIR"
  if [[ -s "$CLUSTER_DIR/brokers" && "$(cat "$CLUSTER_DIR/brokers")" != "$KAFKA_BROKER_COUNT" ]]; then
    die "kafka: $CLUSTER_DIR holds a cluster of $(cat "$CLUSTER_DIR/brokers") nodes, not $KAFKA_BROKER_COUNT; run 'down' and delete $CLUSTER_DIR to start another size"
  fi
  echo "$KAFKA_BROKER_COUNT" >"$CLUSTER_DIR/brokers"
}

kafka_up() {
  local n pid need=()
  cluster_layout_check
  for ((n = 1; n <= KAFKA_BROKER_COUNT; n++)); do
    select_node "$n"
    # Already ours; it may still be starting (e.g. right after a crash-restart): waited for below.
    live_pid "$NODE_PID" "$KAFKA_MARKER" >/dev/null && continue
    rm -f "$NODE_PID"
    if port_open "$NODE_PORT"; then
      [[ "$KAFKA_BROKER_COUNT" == 1 ]] ||
        die "$NODE_NAME: port $NODE_PORT is in use by a process infra.sh did not start; free it or set KAFKA_PORT"
      log "kafka: port $KAFKA_PORT is already served by a process infra.sh did not start -> treating it as an EXTERNAL Kafka that is already up (not managed: 'down' will not touch it)"
      return 0
    fi
    port_open "$NODE_CONTROLLER_PORT" &&
      die "$NODE_NAME: controller port $NODE_CONTROLLER_PORT is in use by another process; free it or set KAFKA_CONTROLLER_PORT"
    need+=("$n")
  done

  JAVA_KAFKA="$(kafka_java)"
  if ((${#need[@]} > 0)); then
    kafka_download
    [[ "$INFRA_SECURE" == 1 ]] && secure_material
    for n in "${need[@]}"; do
      select_node "$n"
      kafka_configure
    done
  fi

  local t0=$SECONDS
  # Every node is started before any is waited for: a node finishes starting only once a
  # majority of the controller quorum is up.
  for n in "${need[@]}"; do
    select_node "$n"
    log "$NODE_NAME: starting Kafka $KAFKA_VERSION (KRaft node $n of $KAFKA_BROKER_COUNT, localhost:$NODE_PORT) with $JAVA_KAFKA"
    # shellcheck disable=SC2086 # heap options are intentionally word-split
    start_detached "$NODE_PID" "$NODE_LOG" "$NODE_DIR" \
      "$JAVA_KAFKA" $KAFKA_HEAP_OPTS $KAFKA_JIT_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -Djava.awt.headless=true -Dlog4j.configuration="file:$INFRA_SRC/kafka/log4j.properties" \
      -cp "$KAFKA_CP" kafka.Kafka "$NODE_DIR/server.properties"
  done
  for ((n = 1; n <= KAFKA_BROKER_COUNT; n++)); do
    select_node "$n"
    wait_until "$NODE_NAME" "$NODE_PID" "$KAFKA_MARKER" "$NODE_LOG" kafka_ready
    if [[ ! " ${need[*]} " =~ " $n " ]]; then
      log "$NODE_NAME: already running (pid $(cat "$NODE_PID"), localhost:$NODE_PORT)"
      continue
    fi
    # A loaded machine (or a log recovery after a crash) can make the first request time out: retry a few times.
    local attempt
    for attempt in 1 2 3 4 5; do
      kafka_api_check && break
      [[ $attempt -lt 5 ]] || die "$NODE_NAME: broker started but does not answer an ApiVersions request; see $NODE_LOG"
      log "$NODE_NAME: no ApiVersions answer yet (attempt $attempt of 5); retrying"
      sleep 2
    done
    log "$NODE_NAME: ready on localhost:$NODE_PORT (pid $(cat "$NODE_PID"), $((SECONDS - t0))s)"
  done
  ((${#need[@]} > 0)) && [[ "$INFRA_SECURE" == 1 ]] && secure_setup
  return 0
}

# --- Apicurio Registry --------------------------------------------------------
APICURIO_MARKER="quarkus-run.jar"

apicurio_java() {
  if [[ -n "${APICURIO_JAVA:-}" ]]; then
    [[ -x "$APICURIO_JAVA" ]] || die "APICURIO_JAVA=$APICURIO_JAVA is not an executable java binary"
    echo "$APICURIO_JAVA"
    return
  fi
  # Apicurio 3.3 is compiled for Java 21 (class file version 65).
  find_java 21 || die "Java 21+ is required for Apicurio Registry $APICURIO_VERSION but none was found (checked JAVA_HOME, PATH, /usr/lib/jvm). Install a JDK 21+ or set APICURIO_JAVA=/path/to/java."
}

apicurio_download() {
  [[ -f "$APICURIO_HOME/quarkus-run.jar" ]] && return 0
  require_mvn
  log "apicurio: downloading Apicurio Registry $APICURIO_VERSION via Maven (first run only, ~160 MB)..."
  mkdir -p "$INFRA_DIR/downloads"
  # Run from the (pom-less) downloads dir so Maven does not pick up a project pom.
  (cd "$INFRA_DIR/downloads" && mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
    -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
    -DoutputDirectory="$INFRA_DIR/downloads") >"$LOG_DIR/mvn-apicurio.log" 2>&1 ||
    { tail -n 30 "$LOG_DIR/mvn-apicurio.log" >&2; die "Maven could not download Apicurio Registry $APICURIO_VERSION (see $LOG_DIR/mvn-apicurio.log)"; }
  local tarball="$INFRA_DIR/downloads/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz"
  rm -rf "$APICURIO_HOME.tmp"
  mkdir -p "$APICURIO_HOME.tmp"
  tar -xzf "$tarball" -C "$APICURIO_HOME.tmp"
  [[ -f "$APICURIO_HOME.tmp/quarkus-run.jar" ]] || die "unexpected archive layout: no quarkus-run.jar in $tarball"
  rm -rf "$APICURIO_HOME"
  mv "$APICURIO_HOME.tmp" "$APICURIO_HOME"
  # The jars are now in ~/.m2 and extracted; the tarball copy is redundant.
  rm -f "$tarball"
}

apicurio_up() {
  local pid
  if pid="$(live_pid "$APICURIO_PID" "$APICURIO_MARKER")"; then
    wait_until apicurio "$APICURIO_PID" "$APICURIO_MARKER" "$LOG_DIR/apicurio.log" registry_ready
    log "apicurio: already running (pid $pid, $REGISTRY_URL)"
    return 0
  fi
  rm -f "$APICURIO_PID"
  if port_open "$APICURIO_PORT"; then
    if registry_ready; then
      log "apicurio: port $APICURIO_PORT is already served by a registry infra.sh did not start -> treating it as EXTERNAL and already up (not managed: 'down' will not touch it)"
    else
      log "apicurio: WARNING port $APICURIO_PORT is in use by a process infra.sh did not start, and $REGISTRY_URL/subjects does not answer 200 -> leaving it alone; set APICURIO_PORT to use another port"
    fi
    return 0
  fi
  port_open "$APICURIO_MGMT_PORT" &&
    die "apicurio: management port $APICURIO_MGMT_PORT is in use by another process; free it or set APICURIO_MGMT_PORT"
  if [[ "$INFRA_SECURE" != 1 ]]; then
    port_open "${APICURIO_KAFKA_BOOTSTRAP##*:}" ||
      die "apicurio: Kafka ($APICURIO_KAFKA_BOOTSTRAP) is not reachable; the registry stores its schemas there"
  fi

  local java
  java="$(apicurio_java)"
  apicurio_download
  mkdir -p "$APICURIO_DIR/tmp"

  local t0=$SECONDS
  # Quarkus reads its settings from env vars. The registry listens on localhost only; deletes are
  # off, and so is changing settings (such as deletes) at runtime through its admin API, which
  # has no authentication here.
  local settings=(
    QUARKUS_HTTP_PORT="$APICURIO_PORT"
    QUARKUS_HTTP_HOST=127.0.0.1
    QUARKUS_MANAGEMENT_PORT="$APICURIO_MGMT_PORT"
    QUARKUS_MANAGEMENT_HOST=127.0.0.1
    APICURIO_STORAGE_SNAPSHOT_LOCATION="$APICURIO_DIR/tmp"
    APICURIO_IMPORT_WORK_DIR="$APICURIO_DIR/tmp"
    APICURIO_CONFIG_DYNAMIC_ALLOW_ALL=false
    APICURIO_REST_DELETION_GROUP_ENABLED=false
    APICURIO_REST_DELETION_ARTIFACT_ENABLED=false
    APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED=false
    # The built-in log format has a broken date pattern ("2025-11+00-28").
    QUARKUS_LOG_CONSOLE_FORMAT='%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p [%c{3.}] (%t) %s%e%n'
  )
  if [[ "$INFRA_SECURE" == 1 ]]; then
    # The secure broker admits only its SCRAM principals over TLS; the registry keeps its schemas
    # in an H2 file of its own instead (the services register theirs again at boot).
    mkdir -p "$APICURIO_DIR/h2"
    log "apicurio: starting Apicurio Registry $APICURIO_VERSION (H2 file storage) with $java"
    settings+=(APICURIO_STORAGE_KIND=sql APICURIO_STORAGE_SQL_KIND=h2
      APICURIO_DATASOURCE_URL="jdbc:h2:file:$APICURIO_DIR/h2/registry")
  else
    log "apicurio: starting Apicurio Registry $APICURIO_VERSION (kafkasql on $APICURIO_KAFKA_BOOTSTRAP) with $java"
    # kafkasql keeps every schema in the Kafka topic "kafkasql-journal", so restarts keep what was
    # registered. Startup waits for at least one empty poll of the snapshots topic; 1 s instead of
    # 5 s saves ~8 s per start and changes nothing else for dev use.
    settings+=(APICURIO_STORAGE_KIND=kafkasql APICURIO_KAFKASQL_BOOTSTRAP_SERVERS="$APICURIO_KAFKA_BOOTSTRAP"
      APICURIO_KAFKASQL_CONSUMER_POLL_TIMEOUT=1000)
  fi
  # SerialGC: a single-user dev registry does not need G1; on 2 cores it
  # starts ~25% faster and uses ~60 MB less RSS.
  # shellcheck disable=SC2086 # heap options are intentionally word-split
  start_detached "$APICURIO_PID" "$LOG_DIR/apicurio.log" "$APICURIO_DIR" \
    env "${settings[@]}" \
    "$java" $APICURIO_HEAP_OPTS -XX:+UseSerialGC -Djava.io.tmpdir="$APICURIO_DIR/tmp" \
    -jar "$APICURIO_HOME/quarkus-run.jar"
  wait_until apicurio "$APICURIO_PID" "$APICURIO_MARKER" "$LOG_DIR/apicurio.log" registry_ready
  log "apicurio: ready at $REGISTRY_URL (pid $(cat "$APICURIO_PID"), $((SECONDS - t0))s)"
}

# --- Commands -------------------------------------------------------------------
cmd_up() {
  command -v curl >/dev/null 2>&1 || die "curl is required (used to check the registry is up)"
  kafka_up
  apicurio_up
  log "up: Kafka $KAFKA_BOOTSTRAP | Schema Registry (Confluent API) $REGISTRY_URL"
}

cmd_down() {
  # Registry first: it is a Kafka client and would otherwise spin on reconnects.
  stop_pid apicurio "$APICURIO_PID" "$APICURIO_MARKER" "$APICURIO_PORT"
  # A cluster's nodes stop together: one by one, the last would wait for a quorum that is gone.
  local n pids=()
  for ((n = 1; n <= KAFKA_BROKER_COUNT; n++)); do
    select_node "$n"
    stop_pid "$NODE_NAME" "$NODE_PID" "$KAFKA_MARKER" "$NODE_PORT" &
    pids+=($!)
  done
  for n in "${pids[@]}"; do wait "$n"; done
}

status_line() {
  local name="$1" pidfile="$2" marker="$3" port="$4" pid
  if pid="$(live_pid "$pidfile" "$marker")"; then
    if port_open "$port"; then
      printf '%-9s up        pid %-8s port %s\n' "$name" "$pid" "$port"
    else
      printf '%-9s starting  pid %-8s port %s (not listening yet)\n' "$name" "$pid" "$port"
      return 1
    fi
  elif port_open "$port"; then
    printf '%-9s external  pid -        port %s (served by a process infra.sh did not start)\n' "$name" "$port"
  else
    printf '%-9s down      pid -        port %s\n' "$name" "$port"
    return 1
  fi
}

# Certificates, passwords and settings of secure mode only (for docker-compose.kafka.secure.yml).
cmd_secrets() {
  [[ "$INFRA_SECURE" == 1 ]] || die "secrets: only with --secure (or INFRA_SECURE=1)"
  secure_material
  log "secure: material in $SECURE_DIR"
}

cmd_status() {
  local rc=0
  local n
  for ((n = 1; n <= KAFKA_BROKER_COUNT; n++)); do
    select_node "$n"
    status_line "$NODE_NAME" "$NODE_PID" "$KAFKA_MARKER" "$NODE_PORT" || rc=1
  done
  status_line apicurio "$APICURIO_PID" "$APICURIO_MARKER" "$APICURIO_PORT" || rc=1
  echo "logs: $LOG_DIR"
  return $rc
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    up | down | status | secrets) ;;
    *) echo "usage: $0 up|down|status|secrets [--secure] [--brokers N]" >&2; exit 2 ;;
  esac
  mkdir -p "$INFRA_DIR" "$KAFKA_DIR" "$APICURIO_DIR" "$LOG_DIR"
  # `down` and `status` without --brokers find a cluster that `up --brokers N` started.
  if [[ "$cmd" == down || "$cmd" == status ]] && [[ "$KAFKA_BROKER_COUNT" == 1 && -s "$CLUSTER_DIR/brokers" ]] &&
    ! live_pid "$KAFKA_PID" "$KAFKA_MARKER" >/dev/null && compgen -G "$CLUSTER_DIR/node-*/kafka.pid" >/dev/null; then
    KAFKA_BROKER_COUNT="$(cat "$CLUSTER_DIR/brokers")"
  fi
  # Serialize up/down (e.g. two test runners calling `up` at once); status
  # only reads, so it never waits behind a slow start.
  if [[ "$cmd" != status ]] && command -v flock >/dev/null 2>&1; then
    exec 9>"$INFRA_DIR/infra.lock"
    flock 9
  fi
  "cmd_$cmd"
}

main "$@"
