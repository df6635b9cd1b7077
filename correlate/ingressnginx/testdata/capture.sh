#!/usr/bin/env bash
# Writes nginx-text.log and nginx-json.log again: runs Debian's nginx
# (apt-get install nginx) with nginx.conf on 127.0.0.1:28480 in front of two
# small Python backends on 127.0.0.1:18081 (answers 200, after ?ms=N
# milliseconds) and 127.0.0.1:18082 (answers 502); 127.0.0.1:18089 must be
# closed. Not run by the tests, which read the committed logs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
mkdir -p "$work/logs"
cp "$here/nginx.conf" "$work/"
python3 "$here/backend.py" 18081 & b1=$!
python3 "$here/backend.py" 18082 502 & b2=$!
TZ=Europe/Berlin nginx -p "$work" -c nginx.conf & nx=$!
trap 'kill $nx $b1 $b2' EXIT
for _ in $(seq 50); do # wait for the backend and the proxy
  curl -s -o /dev/null http://127.0.0.1:18081/ && curl -s -o /dev/null http://127.0.0.1:28480/ && break
  sleep 0.2
done
sleep 0.3 # the probes are logged too: skip them
skip_text=$(wc -l <"$work/logs/text.log") skip_json=$(wc -l <"$work/logs/json.log")
B=http://127.0.0.1:28480
H='Host: shop.example'
curl -s -o /dev/null -H "$H" -A 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' \
  -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' "$B/orders/42?ms=37&debug=true"
curl -s -o /dev/null -H "$H" -H 'X-Request-ID: 7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01' \
  -H 'X-Amzn-Trace-Id: Self=1-67891234-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678' "$B/refused/cart?ms=5"
curl -s -o /dev/null -H "$H" "$B/bad/checkout?ms=3"
curl -s -o /dev/null -H "$H" -H 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' \
  -H 'X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1' "$B/redirect/search?q=a%20b&ms=4"
curl -s -o /dev/null -H "$H" "$B/slow/report?ms=60"
curl -s -o /dev/null -H "$H" "$B/local"
curl -s -o /dev/null -X POST -H "$H" -A 'curl/8.4.0 "quoted" \back' -e 'https://shop.example/ü' --data 'x=1' "$B/orders?ms=120"
curl -s -o /dev/null -H "$H" -H 'traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01' \
  -H 'X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793' "$B/static/app.js"
printf 'GARBAGE\r\n\r\n' | timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/28480; cat >&3; cat <&3' >/dev/null || true
sleep 0.5
tail -n +$((skip_text + 1)) "$work/logs/text.log" >"$here/nginx-text.log"
tail -n +$((skip_json + 1)) "$work/logs/json.log" >"$here/nginx-json.log"
