package redisproxy

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
)

func newClient(t *testing.T, addr string, protocol int, password string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: protocol, Password: password, MaxRetries: -1, PoolSize: 4})
	t.Cleanup(func() { c.Close() })
	return c
}

// scenario runs the same commands on a client and returns a transcript of
// every result, to compare a proxied run with a direct one.
func scenario(ctx context.Context, c *redis.Client, prefix string) []string {
	var out []string
	add := func(what string, v any, err error) { out = append(out, fmt.Sprintf("%s: %#v %v", what, v, err)) }
	k := func(s string) string { return prefix + s }
	n, err := c.Del(ctx, k("s"), k("n"), k("p"), k("tx"), k("h"), k("set"), k("z"), k("l")).Result()
	add("del", n >= 0, err)
	add("set", c.Set(ctx, k("s"), "v", 0).Val(), c.Set(ctx, k("s"), "v", 0).Err())
	v, err := c.Get(ctx, k("s")).Result()
	add("get", v, err)
	v, err = c.Get(ctx, k("missing")).Result()
	add("get missing", v, err)
	i, err := c.Incr(ctx, k("n")).Result()
	add("incr", i, err)
	i, err = c.Incr(ctx, k("s")).Result()
	add("incr string", i, err)
	i, err = c.LPush(ctx, k("s"), "x").Result()
	add("lpush string", i, err)

	// A pipeline of 100 commands.
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for range 100 {
			p.Incr(ctx, k("p"))
		}
		return nil
	})
	var last int64
	for _, cmd := range cmds {
		last = cmd.(*redis.IntCmd).Val()
	}
	add("pipeline", fmt.Sprint(len(cmds), last), err)

	// A transaction.
	var incr *redis.IntCmd
	var get *redis.StringCmd
	_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, k("tx"))
		p.Set(ctx, k("tx2"), "y", 0)
		get = p.Get(ctx, k("tx2"))
		return nil
	})
	add("tx", fmt.Sprint(incr.Val(), get.Val()), err)

	// Maps, sets, doubles (RESP3 types when HELLO 3).
	add("hset", c.HSet(ctx, k("h"), "f1", "a", "f2", "b").Val(), nil)
	m, err := c.HGetAll(ctx, k("h")).Result()
	add("hgetall", m, err)
	add("sadd", c.SAdd(ctx, k("set"), "x", "y").Val(), nil)
	mem, err := c.SMembers(ctx, k("set")).Result()
	add("smembers", len(mem), err)
	add("zadd", c.ZAdd(ctx, k("z"), redis.Z{Score: 1.5, Member: "a"}, redis.Z{Score: 2.25, Member: "b"}).Val(), nil)
	zs, err := c.ZRangeWithScores(ctx, k("z"), 0, -1).Result()
	add("zrange", zs, err)
	f, err := c.ZScore(ctx, k("z"), "b").Result()
	add("zscore", f, err)
	add("unknown", nil, c.Do(ctx, "NOSUCHCOMMAND", "x").Err())
	return out
}

// scenarioCounts are calls scenario makes, counted by operation/outcome.
var scenarioCounts = []struct {
	key string
	n   uint64
}{
	{"INCR/ok", 1 + 100 + 1}, {"INCR/error", 1}, {"LPUSH/error", 1}, {"MULTI/ok", 1}, {"EXEC/ok", 1},
	{"GET/ok", 3}, {"HGETALL/ok", 1}, {"SMEMBERS/ok", 1}, {"ZRANGE/ok", 1}, {"ZSCORE/ok", 1}, {"OTHER/error", 1},
}

// waitScenario waits until every call of scenario is counted. go-redis
// runs the transaction on another pooled connection, and the proxy relays
// a reply before it counts its call, so the transaction's calls may be
// counted after the last command's: waiting for the last is not enough.
func (r *rig) waitScenario(t *testing.T) {
	t.Helper()
	for _, want := range scenarioCounts {
		op, outcome, _ := strings.Cut(want.key, "/")
		r.waitFor(t, op, outcome, want.n)
	}
}

func TestGoRedisMatchesDirect(t *testing.T) {
	addr := redisServer(t)
	for _, protocol := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", protocol), func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, addr)
			proxy := startProxy(t, r, nil)
			prefix := fmt.Sprintf("goredis%d:", protocol)
			direct := scenario(ctx, newClient(t, addr, protocol, ""), prefix)
			proxied := scenario(ctx, newClient(t, proxy, protocol, ""), prefix)
			if !reflect.DeepEqual(proxied, direct) {
				t.Errorf("through the proxy:\n%s\ndirect:\n%s", strings.Join(proxied, "\n"), strings.Join(direct, "\n"))
			}
			wants := scenarioCounts
			r.waitScenario(t)
			if e := r.decodeErrors(); e != 0 {
				t.Errorf("%v decode errors", e)
			}
			obs := r.observations()
			for _, want := range wants {
				if got := obs[want.key]; got != want.n {
					t.Errorf("%s: %d observations, want %d (all: %v)", want.key, got, want.n, obs)
				}
			}
			if errs := r.callsOf("LPUSH"); len(errs) != 1 || errs[0].Err != "WRONGTYPE" {
				t.Errorf("LPUSH on a string: %v, want error.type WRONGTYPE", errs)
			}
			if obs["HELLO/ok"] < 1 {
				t.Errorf("no HELLO: %v", obs)
			}
			if errs := r.callsOf("INCR"); len(errs) != 103 || errs[1].Err != "ERR" {
				t.Errorf("INCR calls: %d, second %v; want 103, the second ERR", len(errs), errs[1])
			}
			// Every span is a redis client span named after its command.
			for _, s := range r.spans.Ended() {
				attrs := map[string]string{}
				for _, a := range s.Attributes() {
					attrs[string(a.Key)] = a.Value.Emit()
				}
				if attrs["db.system.name"] != "redis" || s.SpanKind() != trace.SpanKindClient ||
					s.Name() != attrs["db.operation.name"]+" cache" || attrs["server.address"] != "127.0.0.1" {
					t.Errorf("span %q: kind %v, %v", s.Name(), s.SpanKind(), attrs)
					break
				}
			}
		})
	}
}

func TestGoRedisPubSub(t *testing.T) {
	addr := redisServer(t)
	for _, protocol := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", protocol), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r := newRig(t, addr)
			proxy := startProxy(t, r, nil)
			c := newClient(t, proxy, protocol, "")
			publisher := newClient(t, addr, protocol, "")
			ch1, ch2 := fmt.Sprintf("news%d", protocol), fmt.Sprintf("sport%d", protocol)

			sub := c.Subscribe(ctx, ch1, ch2)
			defer sub.Close()
			for i := 0; i < 2; i++ {
				m, err := sub.Receive(ctx)
				if s, ok := m.(*redis.Subscription); err != nil || !ok || s.Kind != "subscribe" || s.Count != i+1 {
					t.Fatalf("confirmation %d: %#v %v", i, m, err)
				}
			}
			var got []string
			for i := 0; i < 3; i++ {
				if err := publisher.Publish(ctx, []string{ch1, ch2}[i%2], fmt.Sprint("m", i)).Err(); err != nil {
					t.Fatal(err)
				}
				m, err := sub.ReceiveMessage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, m.Channel+"="+m.Payload)
			}
			if want := []string{ch1 + "=m0", ch2 + "=m1", ch1 + "=m2"}; !reflect.DeepEqual(got, want) {
				t.Errorf("messages %v, want %v", got, want)
			}
			if err := sub.Ping(ctx, "hi"); err != nil {
				t.Fatal(err)
			}
			if m, err := sub.Receive(ctx); err != nil {
				t.Fatal(err)
			} else if p, ok := m.(*redis.Pong); !ok || p.Payload != "hi" {
				t.Fatalf("ping in subscriber mode: %#v", m)
			}
			if err := sub.Unsubscribe(ctx, ch1, ch2); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				m, err := sub.Receive(ctx)
				if s, ok := m.(*redis.Subscription); err != nil || !ok || s.Kind != "unsubscribe" || s.Count != 1-i {
					t.Fatalf("unsubscribe confirmation %d: %#v %v", i, m, err)
				}
			}
			// Normal commands again, on a new connection.
			if err := c.Set(ctx, "after-pubsub", "ok", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if v, err := c.Get(ctx, "after-pubsub").Result(); v != "ok" || err != nil {
				t.Fatalf("get after pub/sub: %q %v", v, err)
			}

			want := map[string]uint64{"SUBSCRIBE/ok": 1, "UNSUBSCRIBE/ok": 1, "PING/ok": 1, "SET/ok": 1, "GET/ok": 1}
			// The subscriber's connection is not the commands': wait for
			// every count, then check none is over.
			for k, n := range want {
				op, outcome, _ := strings.Cut(k, "/")
				r.waitFor(t, op, outcome, n)
			}
			if e := r.decodeErrors(); e != 0 {
				t.Errorf("%v decode errors", e)
			}
			obs := r.observations()
			for k, n := range want {
				if obs[k] != n {
					t.Errorf("%s: %d observations, want %d", k, obs[k], n)
				}
			}
			// Messages are no calls: every observation is a command sent.
			for k := range obs {
				switch op := strings.Split(k, "/")[0]; op {
				case "SUBSCRIBE", "UNSUBSCRIBE", "PING", "SET", "GET", "HELLO", "CLIENT":
				default:
					t.Errorf("unexpected observation %s (all: %v)", k, obs)
				}
			}
		})
	}
}

func TestGoRedisBlockingPop(t *testing.T) {
	addr := redisServer(t)
	for _, protocol := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", protocol), func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, addr)
			c := newClient(t, startProxy(t, r, nil), protocol, "")
			if err := c.Ping(ctx).Err(); err != nil { // the connection is set up
				t.Fatal(err)
			}
			key := fmt.Sprintf("queue%d", protocol)
			const wait = 50 * time.Millisecond
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(wait)
				newClient(t, addr, protocol, "").LPush(ctx, key, "job")
			}()
			start := time.Now()
			v, err := c.BLPop(ctx, 5*time.Second, key).Result()
			took := time.Since(start)
			wg.Wait()
			if err != nil || !reflect.DeepEqual(v, []string{key, "job"}) {
				t.Fatalf("BLPOP: %v %v", v, err)
			}
			r.waitFor(t, "BLPOP", "ok", 1)
			d := r.durationOf("BLPOP")
			if len(d) != 1 || d[0] < wait || d[0] > took {
				t.Errorf("BLPOP call lasted %v; it waited %v (the client saw %v)", d, wait, took)
			}
		})
	}
}

func TestAttributedToTheRequestInFlight(t *testing.T) {
	addr := redisServer(t)
	r := newRig(t, addr)
	c := newClient(t, startProxy(t, r, nil), 2, "")
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{7, 7}, SpanID: trace.SpanID{8, 8}, TraceFlags: trace.FlagsSampled})
	leave := r.tracker.Enter(sc)
	c.Get(ctx, "attributed")
	leave()
	c.Get(ctx, "unattributed")
	r.waitFor(t, "GET", "ok", 2)
	var got []string
	for _, s := range r.spans.Ended() {
		if s.Name() != "GET cache" {
			continue
		}
		var a string
		for _, kv := range s.Attributes() {
			if kv.Key == backend.AttrAttribution {
				a = kv.Value.AsString()
			}
		}
		got = append(got, fmt.Sprintf("%s parent=%v", a, s.Parent().TraceID() == sc.TraceID()))
	}
	if want := []string{"inferred parent=true", "ambiguous parent=false"}; !reflect.DeepEqual(got, want) {
		t.Errorf("GET spans %v, want %v", got, want)
	}
}

func TestAuthArgumentsNeverKept(t *testing.T) {
	const password = "Hunter2-sekrit"
	addr := startRedis(t, "--requirepass", password)
	for _, protocol := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", protocol), func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, addr)
			log, logs := observedLogger()
			proxy := startProxy(t, r, log)
			c := newClient(t, proxy, protocol, password)
			if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			bad := newClient(t, proxy, protocol, password+"-wrong")
			if err := bad.Get(ctx, "k").Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
				t.Fatalf("wrong password: %v", err)
			}
			// A raw AUTH, then a command, on one connection.
			raw := newClient(t, proxy, protocol, "")
			raw.Do(ctx, "AUTH", password+"-raw")
			r.waitFor(t, "AUTH", "error", 1)
			if e := r.decodeErrors(); e != 0 {
				t.Errorf("%v decode errors", e)
			}
			obs := r.observations()
			if obs["HELLO/ok"] < 1 || obs["HELLO/error"] < 1 || obs["SET/ok"] != 1 {
				t.Errorf("observations %v: want HELLO ok (authenticated), HELLO error (wrong password), SET ok", obs)
			}
			if a := r.callsOf("AUTH"); len(a) == 0 || a[len(a)-1].Err != "WRONGPASS" {
				t.Errorf("AUTH calls %v, want the last WRONGPASS", a)
			}
			if strings.Contains(r.everything(), "sekrit") || strings.Contains(logs(), "sekrit") {
				t.Errorf("the password is in the telemetry:\n%s\n%s", r.everything(), logs())
			}
		})
	}
}

// TestGoRedisPipelineOneSpan: go-redis's Pipeline writes its commands at
// once; through the proxy (pipeline spans, the sidecar's default) they
// make one span, "BATCH GET cache" with db.operation.batch.size 3, a
// child of the request in flight, and each GET is timed on its own.
func TestGoRedisPipelineOneSpan(t *testing.T) {
	addr := redisServer(t)
	r := newBatchRig(t, addr)
	c := newClient(t, startProxy(t, r, nil), 2, "")
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9, 9}, SpanID: trace.SpanID{1, 1}, TraceFlags: trace.FlagsSampled})
	leave := r.tracker.Enter(sc)
	pipe := c.Pipeline()
	for _, k := range []string{"p1", "p2", "p3"} {
		pipe.Get(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	leave()
	r.waitFor(t, "GET", "ok", 3)
	var batches []string
	for _, s := range r.spans.Ended() {
		if s.Name() != "BATCH GET cache" {
			continue
		}
		var size int64
		for _, kv := range s.Attributes() {
			if kv.Key == "db.operation.batch.size" {
				size = kv.Value.AsInt64()
			}
		}
		batches = append(batches, fmt.Sprintf("size=%d parent=%v", size, s.Parent().TraceID() == sc.TraceID()))
	}
	if want := []string{"size=3 parent=true"}; !reflect.DeepEqual(batches, want) {
		t.Errorf("pipeline spans %v, want %v (all: %v)", batches, want, r.calls())
	}
}
