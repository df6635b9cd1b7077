package redisproxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hopscope/hopscope/internal/testkit"
)

// namespaces are the ended spans' "OP@db.namespace", in order.
func (r *rig) namespaces() []string {
	var out []string
	for _, s := range r.spans.Ended() {
		var op, ns string
		for _, a := range s.Attributes() {
			switch a.Key {
			case "db.operation.name":
				op = a.Value.AsString()
			case "db.namespace":
				ns = a.Value.AsString()
			}
		}
		out = append(out, op+"@"+ns)
	}
	return out
}

// TestDBNamespace: every command's span carries the database it ran in as
// db.namespace — "0" until a SELECT, then the index the last SELECT the
// server accepted chose (a refused one changes nothing), "0" again after
// RESET — on the real Redis, RESP and inline commands alike.
func TestDBNamespace(t *testing.T) {
	addr := redisServer(t)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, proxy string)
		want []string
	}{
		{
			name: "default database",
			run: func(t *testing.T, proxy string) {
				c := redis.NewClient(&redis.Options{Addr: proxy, Protocol: 2, MaxRetries: -1, PoolSize: 1})
				defer c.Close()
				if err := c.Get(context.Background(), "ns:k").Err(); err != redis.Nil {
					t.Fatal(err)
				}
			},
			want: []string{"HELLO@0", "CLIENT@0", "CLIENT@0", "GET@0"},
		},
		{
			name: "client with DB 3",
			run: func(t *testing.T, proxy string) {
				c := redis.NewClient(&redis.Options{Addr: proxy, Protocol: 2, DB: 3, MaxRetries: -1, PoolSize: 1})
				defer c.Close()
				if err := c.Get(context.Background(), "ns:k").Err(); err != redis.Nil {
					t.Fatal(err)
				}
			},
			want: []string{"HELLO@0", "SELECT@3", "CLIENT@3", "CLIENT@3", "GET@3"},
		},
		{
			name: "SELECT, a refused SELECT, inline SELECT, RESET",
			run: func(t *testing.T, proxy string) {
				conn, err := net.DialTimeout("tcp", proxy, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				_, err = fmt.Fprint(conn, "GET ns:k\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$3\r\nGET\r\n$4\r\nns:k\r\n",
					"*2\r\n$6\r\nSELECT\r\n$5\r\n99999\r\nGET ns:k\r\nSELECT 12\r\nGET ns:k\r\nRESET\r\nGET ns:k\r\n")
				if err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(conn)
				for range 9 {
					if _, err := br.ReadString('\n'); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: []string{"GET@0", "SELECT@2", "GET@2", "SELECT@2", "GET@2", "SELECT@12", "GET@12", "RESET@0", "GET@0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, addr)
			proxy := startProxy(t, r, nil)
			tc.run(t, proxy)
			var got []string
			testkit.Eventually(t, fmt.Sprintf("%d spans ended", len(tc.want)), 5*time.Second, func() bool {
				got = r.namespaces()
				return len(got) >= len(tc.want)
			}, func() string { return strings.Join(got, " ") })
			// go-redis sets its connection up with HELLO, SELECT (with a
			// DB) and two CLIENT SETINFO.
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("spans:\n %s\nwant\n %s", strings.Join(got, " "), strings.Join(tc.want, " "))
			}
		})
	}
}
