package collector

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
)

// replicas starts n collectors whose --peers name each other's API (and
// their own, as a headless Service's records do), with mutate applied to
// each.
func replicas(t *testing.T, n int, mutate func(*Config)) []*Collector {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		p, err := realcomp.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	out := make([]*Collector, n)
	for i := range out {
		out[i] = startCollector(t, func(cfg *Config) {
			cfg.HTTPListen = addrs[i]
			cfg.Peers = strings.Join(addrs, ",")
			if mutate != nil {
				mutate(cfg)
			}
		})
	}
	return out
}

// postSpans sends an OTLP/JSON file to a collector's OTLP/HTTP receiver.
func postSpans(t *testing.T, c *Collector, path, auth string) {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+c.OTLPHTTPAddr().String()+"/v1/traces", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("OTLP post: %s", res.Status)
	}
}

// apiGet returns a GET's status, body and Hopscope-Partial header.
func apiGet(t *testing.T, url, auth string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header.Get(partialHeader)
}

const recordedTraceID = "67891233abcdef012345678912345678" // collector/testdata/recorded/*/spans.json

// TestPeersAnswerForEachOther: with --peers, any replica answers for a
// trace another one holds, byte for byte as the owner does, and lists the
// recent breakdowns of all; an unknown trace is 404 naming how many
// replicas were asked; a question a peer asks (?local=1) goes no further.
func TestPeersAnswerForEachOther(t *testing.T) {
	rs := replicas(t, 3, nil)
	postSpans(t, rs[2], filepath.Join("testdata", "recorded", "full_path", "spans.json"), "")
	path := "/api/v1/traces/" + recordedTraceID + "/breakdown"
	var own string
	testkit.Eventually(t, "the owner has the trace", waitLimit, func() bool {
		code, body, _ := apiGet(t, "http://"+rs[2].HTTPAddr().String()+path+"?local=1", "")
		own = body
		return code == http.StatusOK
	})
	for i, c := range rs[:2] {
		code, body, _ := apiGet(t, "http://"+c.HTTPAddr().String()+path, "")
		if code != http.StatusOK || body != own {
			t.Errorf("replica %d: %d %s, want the owner's 200 %s", i, code, body, own)
		}
		if code, _, _ := apiGet(t, "http://"+c.HTTPAddr().String()+path+"?local=1", ""); code != http.StatusNotFound {
			t.Errorf("replica %d, ?local=1: %d, want 404 (not its trace, and not asked further)", i, code)
		}
		code, body, partial := apiGet(t, "http://"+c.HTTPAddr().String()+"/api/v1/breakdowns", "")
		if code != http.StatusOK || !strings.Contains(body, recordedTraceID) || strings.Count(body, recordedTraceID) != strings.Count(own, recordedTraceID) || partial != "" {
			t.Errorf("replica %d list: %d partial %q %s, want the owner's trace once", i, code, partial, body)
		}
	}
	code, body, _ := apiGet(t, "http://"+rs[0].HTTPAddr().String()+"/api/v1/traces/0af7651916cd43dd8448eb211c80319c/breakdown", "")
	if code != http.StatusNotFound || !strings.Contains(body, "any of the 3 replicas") {
		t.Errorf("unknown trace: %d %s, want 404 naming the 3 replicas asked", code, body)
	}
}

// TestPeersUnreachable: a replica that does not answer makes a trace not
// found elsewhere a 502 naming it (the trace may be its), and a list
// partial, said in the Hopscope-Partial header.
func TestPeersUnreachable(t *testing.T) {
	p, err := realcomp.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("127.0.0.1:%d", p) // nothing listens there
	c := startCollector(t, func(cfg *Config) { cfg.Peers = dead })
	base := "http://" + c.HTTPAddr().String()
	code, body, _ := apiGet(t, base+"/api/v1/traces/0af7651916cd43dd8448eb211c80319c/breakdown", "")
	if code != http.StatusBadGateway || !strings.Contains(body, "1 of 1 did not") || !strings.Contains(body, dead) {
		t.Errorf("trace with a dead peer: %d %s, want 502 naming %s", code, body, dead)
	}
	code, _, partial := apiGet(t, base+"/api/v1/breakdowns", "")
	if code != http.StatusOK || partial != "1 of 1 replicas did not answer" {
		t.Errorf("list with a dead peer: %d, Hopscope-Partial %q", code, partial)
	}
}

// TestPeersForwardTheToken: with --auth-token-file, the caller's token
// goes to the peers (every replica reads the same tokens); a peer that
// refuses it makes the answer a 502, not a silent 404.
func TestPeersForwardTheToken(t *testing.T) {
	const token = "peers-0123456789abcdef"
	file := testkit.TokenFile(t, token)
	rs := replicas(t, 2, func(cfg *Config) { cfg.AuthTokenFile = file })
	postSpans(t, rs[1], filepath.Join("testdata", "recorded", "full_path", "spans.json"), "Bearer "+token)
	path := "/api/v1/traces/" + recordedTraceID + "/breakdown"
	testkit.Eventually(t, "replica 0 answers for replica 1's trace with the token", waitLimit, func() bool {
		code, _, _ := apiGet(t, "http://"+rs[0].HTTPAddr().String()+path, "Bearer "+token)
		return code == http.StatusOK
	})
	if code, _, _ := apiGet(t, "http://"+rs[0].HTTPAddr().String()+path, ""); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401 from the replica asked", code)
	}

	other := testkit.TokenFile(t, "other-0123456789abcdef")
	odd := startCollector(t, func(cfg *Config) { cfg.AuthTokenFile = other; cfg.Peers = rs[1].HTTPAddr().String() })
	code, body, _ := apiGet(t, "http://"+odd.HTTPAddr().String()+"/api/v1/traces/0af7651916cd43dd8448eb211c80319c/breakdown", "Bearer other-0123456789abcdef")
	if code != http.StatusBadGateway || !strings.Contains(body, "answered 401") {
		t.Errorf("peer refusing the token: %d %s, want 502 naming its 401", code, body)
	}
}
