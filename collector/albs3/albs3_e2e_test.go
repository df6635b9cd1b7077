//go:build e2e

package albs3

// These tests run the Reader against a real S3-compatible server,
// SeaweedFS (tools/seaweedfs; realcomp.SeaweedS3), started on loopback
// for each test: `go test -tags e2e -run TestSeaweed ./collector/albs3/`.
// Set HOPSCOPE_WEED_BIN to a built weed, or tools/build seaweedfs builds
// one the first time.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
)

const (
	waitTimeout = 30 * time.Second
	bucket      = "alb-logs"
	dayDir      = "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2018/07/02/"
)

// albKey is the key ALB gives the object of load balancer lb at stamp
// (yyyymmddThhmmZ) in dayDir.
func albKey(lb, stamp string) string {
	return dayDir + "123456789012_elasticloadbalancing_us-east-2_app." + lb + ".50dc6c495c0c9188_" + stamp + "_10.0.0.1_2ahq0dy3.log.gz"
}

// albObject is the seven documented ALB log lines, gzipped as ALB writes
// its objects.
func albObject(t *testing.T) (gz []byte, lines int) {
	t.Helper()
	raw, err := os.ReadFile("../../correlate/alb/testdata/aws-docs-current.log")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), bytes.Count(raw, []byte("\n"))
}

// s3Env is a SeaweedFS with the bucket made, a client to write to it,
// and the credentials in the environment, where the Reader's default
// chain finds them.
type s3Env struct {
	srv    realcomp.S3Server
	client *s3.Client
}

func startS3(t *testing.T) *s3Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	bin, err := realcomp.SeaweedBin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv, stop, err := realcomp.SeaweedS3(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	// The default chain: nothing from this machine's AWS files.
	home := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	client := s3.New(s3.Options{Region: srv.Region, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")})
	e := &s3Env{srv: srv, client: client}
	var lastErr error
	testkit.Eventually(t, "SeaweedFS creates the bucket", waitTimeout, func() bool {
		_, lastErr = client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		return lastErr == nil
	}, func() string { return fmt.Sprint(lastErr) })
	return e
}

func (e *s3Env) put(t *testing.T, key string, body []byte) {
	t.Helper()
	var lastErr error
	testkit.Eventually(t, "SeaweedFS stores "+key, waitTimeout, func() bool {
		_, lastErr = e.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
		return lastErr == nil
	}, func() string { return fmt.Sprint(lastErr) })
}

func (e *s3Env) config(stateDir string) Config {
	cfg := DefaultConfig()
	cfg.URL = "s3://" + bucket + "/AWSLogs/"
	cfg.Region = e.srv.Region
	cfg.Endpoint = e.srv.Endpoint
	cfg.PathStyle = true
	cfg.StateDir = stateDir
	cfg.PollInterval = 50 * time.Millisecond
	return cfg
}

// collected counts the records and errors a Reader delivered by object.
type collected struct {
	mu      sync.Mutex
	records map[string]int // s3:// URL of the object → records
	bad     []string
	errs    []error
}

func newCollected() *collected { return &collected{records: map[string]int{}} }

func (c *collected) consumer() consumer.Consumer {
	return consumer.Func(func(_ context.Context, in consumer.Input) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if in.Err != nil || in.Record == nil {
			c.bad = append(c.bad, fmt.Sprintf("%s: %v", in.Where, in.Err))
			return nil
		}
		obj := in.Where[:strings.LastIndexByte(in.Where, ':')]
		c.records[obj]++
		return nil
	})
}

func (c *collected) onError(_ string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

func (c *collected) snapshot() (map[string]int, []string, []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for k, v := range c.records {
		m[k] = v
	}
	return m, slices.Clone(c.bad), slices.Clone(c.errs)
}

func startReader(t *testing.T, cfg Config, c *collected, now func() time.Time) *Reader {
	t.Helper()
	cfg.OnError = c.onError
	r, err := New(cfg, c.consumer())
	if err != nil {
		t.Fatal(err)
	}
	if now != nil {
		r.now = now
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return r
}

func shutdown(t *testing.T, r *Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSeaweedS3ReadsOnceAcrossRestart: every ALB object under the prefix
// is read once; a new Reader on the same state file reads only the object
// added since.
func TestSeaweedS3ReadsOnceAcrossRestart(t *testing.T) {
	e := startS3(t)
	gz, lines := albObject(t)
	first := []string{albKey("lb-b", "20180702T2225Z"), albKey("lb-b", "20180702T2230Z"), albKey("lb-c", "20180702T2225Z")}
	for _, k := range first {
		e.put(t, k, gz)
	}
	// ALB's test object, written when logging is switched on: not a log.
	e.put(t, "AWSLogs/123456789012/ELBAccessLogTestFile", []byte("Enable AccessLog for ELB: my-loadbalancer at 2018-07-02T22:00:00.000Z\n"))
	stateDir := t.TempDir()
	// The objects' day: it is not closed, so objects may still appear in
	// it and the cursor stays before it.
	now := func() time.Time { return time.Date(2018, 7, 2, 23, 0, 0, 0, time.UTC) }

	c1 := newCollected()
	r1 := startReader(t, e.config(stateDir), c1, now)
	testkit.Eventually(t, "the first reader reads the three objects", waitTimeout, func() bool { return r1.Stats().Objects == 3 },
		func() string { return fmt.Sprintf("%+v", r1.Stats()) })
	shutdown(t, r1)
	got, bad, errs := c1.snapshot()
	if len(bad) > 0 || len(errs) > 0 {
		t.Fatalf("first reader: bad lines %v, errors %v", bad, errs)
	}
	for _, k := range first {
		if got["s3://"+bucket+"/"+k] != lines {
			t.Errorf("first reader: %s gave %d records, want %d", k, got["s3://"+bucket+"/"+k], lines)
		}
	}
	if len(got) != len(first) {
		t.Errorf("first reader read %d objects, want %d: %v", len(got), len(first), got)
	}

	// A new object that sorts before those read (another load balancer,
	// the same day): the cursor must not have passed it.
	added := albKey("lb-a", "20180702T2235Z")
	e.put(t, added, gz)
	c2 := newCollected()
	r2 := startReader(t, e.config(stateDir), c2, now)
	testkit.Eventually(t, "the second reader reads the added object and lists again", waitTimeout, func() bool {
		s := r2.Stats()
		return s.Objects >= 1 && s.Listings >= 2
	}, func() string { return fmt.Sprintf("%+v", r2.Stats()) })
	shutdown(t, r2)
	got, bad, errs = c2.snapshot()
	if len(bad) > 0 || len(errs) > 0 {
		t.Fatalf("second reader: bad lines %v, errors %v", bad, errs)
	}
	want := map[string]int{"s3://" + bucket + "/" + added: lines}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("second reader read %v, want only %v", got, want)
	}
	if s := r2.Stats(); s.Objects != 1 || s.Failed != 0 {
		t.Fatalf("second reader stats %+v, want 1 object, none failed", s)
	}
}

// TestSeaweedS3Cursor: once a day is older than Lookback and all its
// objects were read, the listing starts after them (StartAfter): the
// state forgets them and an object written late into that day is not
// listed, while a new day's object is read.
func TestSeaweedS3Cursor(t *testing.T) {
	e := startS3(t)
	gz, _ := albObject(t)
	old := []string{albKey("lb-a", "20180702T2225Z"), albKey("lb-b", "20180702T2225Z")}
	for _, k := range old {
		e.put(t, k, gz)
	}
	stateDir := t.TempDir()
	// Four days after the objects' day: with the default 48 h lookback
	// the day is closed.
	now := func() time.Time { return time.Date(2018, 7, 6, 0, 0, 0, 0, time.UTC) }
	c := newCollected()
	r := startReader(t, e.config(stateDir), c, now)
	testkit.Eventually(t, "the reader reads both objects", waitTimeout, func() bool { return r.Stats().Objects == 2 && r.Stats().Listings >= 1 })
	shutdown(t, r)

	raw, err := os.ReadFile(filepath.Join(stateDir, StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	var sf stateFile
	if err := json.Unmarshal(raw, &sf); err != nil {
		t.Fatal(err)
	}
	if sf.Cursor != old[1] || len(sf.Objects) != 0 {
		t.Fatalf("state cursor %q with %d objects, want cursor %q and none", sf.Cursor, len(sf.Objects), old[1])
	}

	late := albKey("lb-0", "20180702T2355Z") // sorts before the cursor
	next := strings.Replace(albKey("lb-a", "20180703T0005Z"), "/2018/07/02/", "/2018/07/03/", 1)
	e.put(t, late, gz)
	e.put(t, next, gz)
	c2 := newCollected()
	r2 := startReader(t, e.config(stateDir), c2, now)
	testkit.Eventually(t, "the reader reads the next day's object and lists again", waitTimeout, func() bool {
		s := r2.Stats()
		return s.Objects >= 1 && s.Listings >= 2
	})
	shutdown(t, r2)
	got, _, _ := c2.snapshot()
	if _, ok := got["s3://"+bucket+"/"+next]; !ok || len(got) != 1 {
		t.Fatalf("read %v, want only %s (the late object is before the cursor)", got, next)
	}
}

// fakeQueue is an SQS queue the test feeds: there is no SQS-compatible
// server here (testdata/README.md). ReceiveMessage blocks until a message
// is fed or the Reader shuts down.
type fakeQueue struct {
	msgs    chan sqstypes.Message
	mu      sync.Mutex
	deleted []string // receipt handles
}

func (q *fakeQueue) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	select {
	case m := <-q.msgs:
		return &sqs.ReceiveMessageOutput{Messages: []sqstypes.Message{m}}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (q *fakeQueue) DeleteMessage(_ context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleted = append(q.deleted, aws.ToString(in.ReceiptHandle))
	return &sqs.DeleteMessageOutput{}, nil
}

func (q *fakeQueue) deletedHandles() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.deleted)
}

// putEvent is the S3 event notification of key's creation, in the
// structure of testdata/s3-event-put.json, the key form-encoded as S3
// sends it.
func putEvent(t *testing.T, key string, size int) string {
	t.Helper()
	doc := readTestdata(t, "s3-event-put.json")
	var ev map[string]any
	if err := json.Unmarshal(doc, &ev); err != nil {
		t.Fatal(err)
	}
	rec := ev["Records"].([]any)[0].(map[string]any)["s3"].(map[string]any)
	rec["bucket"].(map[string]any)["name"] = bucket
	obj := rec["object"].(map[string]any)
	obj["key"] = strings.ReplaceAll(key, "_", "%5F") // S3 form-encodes keys
	obj["size"] = size
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSeaweedS3WithSQS: driven by notifications, the Reader reads the
// object a message names once and deletes the message, deletes the test
// event, leaves a message it cannot decode, and deletes a repeated
// notification without reading the object again.
func TestSeaweedS3WithSQS(t *testing.T) {
	e := startS3(t)
	gz, lines := albObject(t)
	before := albKey("lb-a", "20180702T2225Z") // written before the Reader starts: listed
	e.put(t, before, gz)
	q := &fakeQueue{msgs: make(chan sqstypes.Message)}
	cfg := e.config(t.TempDir())
	cfg.QueueURL = "https://sqs.us-east-2.amazonaws.com/123456789012/alb-logs"
	cfg.SQS = q
	c := newCollected()
	r := startReader(t, cfg, c, nil)
	testkit.Eventually(t, "the first listing reads the object there before", waitTimeout, func() bool { return r.Stats().Objects == 1 })

	send := func(handle, body string) {
		select {
		case q.msgs <- sqstypes.Message{MessageId: aws.String(handle), ReceiptHandle: aws.String(handle), Body: aws.String(body)}:
		case <-time.After(waitTimeout):
			t.Fatalf("the reader did not receive message %s", handle)
		}
	}
	send("test-event", string(readTestdata(t, "s3-test-event.json")))
	send("garbage", "not json")
	added := albKey("lb-b", "20180702T2230Z")
	e.put(t, added, gz)
	send("added", putEvent(t, added, len(gz)))
	send("again", putEvent(t, added, len(gz)))
	send("listed", putEvent(t, before, len(gz)))
	testkit.Eventually(t, "the reader deletes four messages", waitTimeout, func() bool { return len(q.deletedHandles()) == 4 },
		func() string { return fmt.Sprint(q.deletedHandles()) })
	shutdown(t, r)

	if got, want := q.deletedHandles(), []string{"test-event", "added", "again", "listed"}; !slices.Equal(got, want) {
		t.Errorf("deleted %v, want %v (garbage left in the queue)", got, want)
	}
	got, bad, errs := c.snapshot()
	want := map[string]int{"s3://" + bucket + "/" + before: lines, "s3://" + bucket + "/" + added: lines}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(bad) > 0 {
		t.Errorf("read %v (bad %v), want %v", got, bad, want)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "garbage") {
		t.Errorf("errors %v, want one naming the garbage message", errs)
	}
	if s := r.Stats(); s.Objects != 2 || s.Messages != 4 {
		t.Errorf("stats %+v, want 2 objects and 4 messages", s)
	}
}
