# Sourced by the session-10 ingest scripts: starts `$R/osprey serve` on a fresh data dir $D with the benchmark
# ports (and any OSPREY_* settings exported before), waits until it is ready, and sets PID.
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318
export OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
rm -rf $D
$R/osprey serve --data-dir $D > $D.log 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.1; done
CORPUS_FILE=${DATA:-../shared/data}/otel-demo/astronomy-oteltraces.zst
