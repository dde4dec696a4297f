#!/usr/bin/env bash
# Benchmarks serin's proxy (`serin proxy` and the slim `serin-proxy`
# binary, and `serin-proxy --event-loop=false`) against a direct backend,
# nginx and HAProxy with wrk on loopback, all in one run. The proxy under test and both backends
# share one core (PROXY_CPU); wrk runs on another (WRK_CPU). Each proxy is
# configured for the same 90/10 split between the backends at
# 127.0.0.1:18081 and 127.0.0.1:18082 (bench/proxy/backend: 300-byte JSON).
#
#   bench/proxy/run.sh            # 64 connections, then 4, 10s each
#   DURATION=30s CONNS="64 4" bench/proxy/run.sh
#
# Prints a Markdown table: requests/s, p50, p99, the proxy's CPU time per
# request (user+system from /proc), its peak RSS (VmHWM) and its anonymous
# RSS after the run (RssAnon: heap and stacks, without the binary's pages).
set -euo pipefail

DURATION=${DURATION:-10s}
CONNS=${CONNS:-"64 4"}
PROXY_CPU=${PROXY_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/serin-bench.XXXXXX)
PIDS=()

cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# Debian packages, installed once.
need=()
for tool in wrk:wrk nginx:nginx haproxy:haproxy taskset:util-linux; do
	command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

(cd "$ROOT" && go build -o "$WORK/serin" ./cmd/serin && go build -o "$WORK/serin-proxy" ./cmd/serin-proxy &&
	go build -o "$WORK/backend" ./bench/proxy/backend)

start() { # start CMD...: runs on the proxy core, remembers the pid
	taskset -c "$PROXY_CPU" "$@" >"$WORK/log.$#.$RANDOM" 2>&1 &
	PIDS+=($!)
	LAST=$!
}
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "port $1 did not open" >&2
	exit 1
}
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
anon_kb() { awk '/RssAnon/ {print $2}' "/proc/$1/status"; }

GOMAXPROCS=1 start "$WORK/backend" -listen 127.0.0.1:18081 -name primary
GOMAXPROCS=1 start "$WORK/backend" -listen 127.0.0.1:18082 -name canary
wait_port 18081
wait_port 18082

# serin: the shipped example config.
GOMAXPROCS=1 start "$WORK/serin" proxy --config "$ROOT/examples/proxy/split-90-10.yaml" --admin-token-file "$WORK/admin-serin.token"
SERIN_PID=$LAST

# serin-proxy: the same config on ports of its own.
sed 's/18080/18085/; s/18090/18091/' "$ROOT/examples/proxy/split-90-10.yaml" >"$WORK/split-90-10.yaml"
GOMAXPROCS=1 start "$WORK/serin-proxy" --config "$WORK/split-90-10.yaml" --admin-token-file "$WORK/admin-slim.token"
SLIM_PID=$LAST

# serin-proxy without its event loop (goroutines and fasthttp), for
# comparison, on ports of its own.
sed 's/18080/18086/; s/18090/18092/' "$ROOT/examples/proxy/split-90-10.yaml" >"$WORK/split-90-10-goroutines.yaml"
GOMAXPROCS=1 start "$WORK/serin-proxy" --event-loop=false --config "$WORK/split-90-10-goroutines.yaml" --admin-token-file "$WORK/admin-goroutines.token"
GOR_PID=$LAST

# nginx: one worker, weighted upstream with keep-alive.
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	upstream podinfo {
		server 127.0.0.1:18081 weight=90;
		server 127.0.0.1:18082 weight=10;
		keepalive 128;
	}
	server {
		listen 127.0.0.1:18083 reuseport;
		location / {
			proxy_pass http://podinfo;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
		}
	}
}
CONF
start nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;'
NGINX_MASTER=$LAST

# HAProxy: one thread, random weighted balance, connection reuse.
cat >"$WORK/haproxy.cfg" <<CONF
global
	nbthread 1
	maxconn 4096
defaults
	mode http
	timeout connect 3s
	timeout client 30s
	timeout server 30s
	option forwardfor
	http-reuse always
frontend fe
	bind 127.0.0.1:18084
	default_backend podinfo
backend podinfo
	balance random
	server primary 127.0.0.1:18081 weight 90
	server canary 127.0.0.1:18082 weight 10
CONF
start haproxy -f "$WORK/haproxy.cfg" -db
HAPROXY_PID=$LAST

wait_port 18080
wait_port 18083
wait_port 18084
wait_port 18085
wait_port 18086
NGINX_PID=$(pgrep -P "$NGINX_MASTER" nginx | head -1)

bench() { # bench NAME PORT PID CONNS
	local name=$1 port=$2 pid=$3 conns=$4 before after out rps p50 p99 reqs cpu rss anon
	taskset -c "$WRK_CPU" wrk -t1 -c"$conns" -d2s "http://127.0.0.1:$port/" >/dev/null # warm up
	before=$([ "$pid" = - ] && echo 0 || cpu_ticks "$pid")
	out=$(taskset -c "$WRK_CPU" wrk -t1 -c"$conns" -d"$DURATION" --latency "http://127.0.0.1:$port/")
	after=$([ "$pid" = - ] && echo 0 || cpu_ticks "$pid")
	rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
		echo "warning: $name: $(grep 'Non-2xx\|Socket errors' <<<"$out")" >&2
	fi
	if [ "$pid" = - ]; then
		cpu=-
		rss=-
		anon=-
	else
		cpu=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$reqs" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')
		rss=$(awk -v kb="$(hwm_kb "$pid")" 'BEGIN {printf "%.1f MB", kb / 1024}')
		anon=$(awk -v kb="$(anon_kb "$pid")" 'BEGIN {printf "%.1f MB", kb / 1024}')
	fi
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$conns" "$rps" "$p50" "$p99" "$cpu" "$rss" "$anon"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| target | conns | requests/s | p50 | p99 | proxy CPU us/request | proxy peak RSS | proxy anon RSS after |"
echo "|---|---|---|---|---|---|---|---|"
for c in $CONNS; do
	bench "backend direct" 18081 - "$c"
	bench "serin (90/10)" 18080 "$SERIN_PID" "$c"
	bench "serin-proxy (90/10)" 18085 "$SLIM_PID" "$c"
	bench "serin-proxy --event-loop=false (90/10)" 18086 "$GOR_PID" "$c"
	bench "nginx (90/10)" 18083 "$NGINX_PID" "$c"
	bench "HAProxy (90/10)" 18084 "$HAPROXY_PID" "$c"
done

echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# The split serin saw, from its own metrics.
echo
"$WORK/serin" stat --proxy 127.0.0.1:18090 -t 10m -o wide
