# Puts a memory limit and policy in force on a running redis-server, and into its file with
# CONFIG REWRITE, when they differ from what it runs with; says "changed: …" when it changed
# them. Where Sentinel owns redis.conf (dropship_redis's tasks). The control user's password
# comes on stdin, into redis-cli's environment only; the arguments are the server's address and
# port, the limit in MiB and the policy.
set -e
REDIS_HOST="$1" REDIS_PORT="$2" MAXMEMORY_MB="$3" MAXMEMORY_POLICY="$4"
REDISCLI_AUTH="$(cat)"
export REDISCLI_AUTH
cli() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --user control "$@"; }
want="$((MAXMEMORY_MB * 1048576)) $MAXMEMORY_POLICY"
now="$(cli CONFIG GET maxmemory | sed -n 2p) $(cli CONFIG GET maxmemory-policy | sed -n 2p)"
if [ "$now" != "$want" ]; then
  said="$(cli CONFIG SET maxmemory "${MAXMEMORY_MB}mb" maxmemory-policy "$MAXMEMORY_POLICY")"
  [ "$said" = OK ] || { echo "CONFIG SET: $said" >&2; exit 1; }
  said="$(cli CONFIG REWRITE)"
  [ "$said" = OK ] || { echo "CONFIG REWRITE: $said" >&2; exit 1; }
  echo "changed: maxmemory ${MAXMEMORY_MB}mb, maxmemory-policy $MAXMEMORY_POLICY (was $now)"
fi
