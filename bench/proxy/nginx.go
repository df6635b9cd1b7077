package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// nginxCommon is the top of both nginx configs: foreground, one worker, every
// path under the instance's own prefix directory.
func nginxCommon(dir string) string {
	return fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events {
    worker_connections 4096;
}
`, dir)
}

func nginxTempPaths(dir string) string {
	var b strings.Builder
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "    %s_temp_path %s/%s_temp;\n", t, dir, t)
	}
	return b.String()
}

// writeUpstreamConf is the app stand-in: `return 200 "ok"`, no logging.
// keepalive_requests is raised so no contender pays for reconnects that the
// others do not (nginx closes a client connection after 1000 requests by
// default; Go's server never does).
func writeUpstreamConf(dir string, port int) (string, error) {
	conf := nginxCommon(dir) + fmt.Sprintf(`http {
%s    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:%d;
        location / {
            return 200 "ok";
        }
    }
}
`, nginxTempPaths(dir), port)
	return writeConf(dir, conf)
}

// writeProxyConf is nginx as an ingress-nginx-like reverse proxy: an upstream
// keep-alive pool (ingress-nginx's defaults: 320 connections, 10000 requests,
// 60s), the headers ingress-nginx sets on every proxied request, and one JSON
// access-log line per request written unbuffered to a file, as ingress-nginx
// does with log-format-escape-json and its default access-log-params.
func writeProxyConf(dir string, port, upstreamPort int) (string, error) {
	conf := nginxCommon(dir) + fmt.Sprintf(`http {
%[1]s
    log_format ingress_json escape=json '{"time":"$time_iso8601","remote_addr":"$remote_addr",'
        '"x_forwarded_for":"$proxy_add_x_forwarded_for","request_id":"$request_id",'
        '"remote_user":"$remote_user","bytes_sent":$bytes_sent,"body_bytes_sent":$body_bytes_sent,'
        '"request_time":$request_time,"status":$status,"vhost":"$host","request_proto":"$server_protocol",'
        '"path":"$uri","request_query":"$args","request_length":$request_length,"duration":$request_time,'
        '"method":"$request_method","http_referrer":"$http_referer","http_user_agent":"$http_user_agent",'
        '"upstream_addr":"$upstream_addr","upstream_response_length":"$upstream_response_length",'
        '"upstream_response_time":"$upstream_response_time","upstream_status":"$upstream_status",'
        '"upstream_connect_time":"$upstream_connect_time","upstream_header_time":"$upstream_header_time"}';
    access_log %[2]s/access.log ingress_json;

    keepalive_requests 100000000;
    keepalive_timeout 300s;

    upstream app {
        server 127.0.0.1:%[4]d;
        keepalive 320;
        keepalive_requests 10000;
        keepalive_timeout 60s;
    }

    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Request-ID $request_id;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Scheme $scheme;
            proxy_set_header X-Request-Start "t=${msec}";
            proxy_connect_timeout 5s;
            proxy_send_timeout 60s;
            proxy_read_timeout 60s;
            proxy_buffering on;
        }
    }
}
`, nginxTempPaths(dir), dir, port, upstreamPort)
	return writeConf(dir, conf)
}

func writeConf(dir, conf string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "nginx.conf")
	return path, os.WriteFile(path, []byte(conf), 0o644)
}
