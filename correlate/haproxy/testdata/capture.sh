#!/usr/bin/env bash
# Writes haproxy-raw.log and haproxy-syslog.log again: runs Debian's HAProxy
# (apt-get install haproxy) with haproxy.cfg on 127.0.0.1:28481 and :28482 in
# front of the small Python backend of ../../ingressnginx/testdata on
# 127.0.0.1:18081 (answers 200 after ?ms=N milliseconds); 127.0.0.1:18089
# must be closed. Not run by the tests, which read the committed logs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
python3 "$here/../../ingressnginx/testdata/backend.py" 18081 & b1=$!
(cd "$work" && TZ=Europe/Berlin exec haproxy -f "$here/haproxy.cfg" >out.log 2>err.log) & hp=$!
trap 'kill $hp $b1' EXIT
for _ in $(seq 50); do # wait for the backend and the proxy
  curl -s -o /dev/null http://127.0.0.1:18081/ && curl -s -o /dev/null http://127.0.0.1:28481/ && break
  sleep 0.2
done
sleep 0.3 # the probes are logged too: skip them
skip_out=$(wc -l <"$work/out.log") skip_err=$(wc -l <"$work/err.log")
B=http://127.0.0.1:28481
curl -s -o /dev/null -H 'X-Request-ID: 7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01' \
  -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' "$B/orders/42?ms=37&debug=true"
curl -s -o /dev/null -H 'X-Amzn-Trace-Id: Self=1-67891234-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678' "$B/cart?ms=5"
curl -s -o /dev/null -H 'X-Request-ID: req-down-1' "$B/down/x"
curl -s -o /dev/null -H 'X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1' \
  -H 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' "$B/slow/report?ms=60"
curl -s -o /dev/null "$B/admin/users"
curl -s -o /dev/null -H 'X-Request-ID: has {brace} |pipe| "quote" #hash' "$B/redispatch/y?ms=2"
curl -s -o /dev/null -X POST --data 'x=1' -H 'X-Request-ID: 5e6d7c8b' "$B/orders?ms=120"
curl -s -o /dev/null "http://127.0.0.1:28482/plain?ms=3"
printf 'GARBAGE\r\n\r\n' | timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/28481; cat >&3; cat <&3' >/dev/null || true
sleep 0.5
tail -n +$((skip_out + 1)) "$work/out.log" >"$here/haproxy-raw.log"
tail -n +$((skip_err + 1)) "$work/err.log" >"$here/haproxy-syslog.log"
