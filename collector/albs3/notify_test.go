package albs3

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// snsWrap wraps an S3 event in an SNS notification envelope, as SQS
// receives it from an SNS topic without raw message delivery.
func snsWrap(t *testing.T, event []byte) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "m1",
		"TopicArn": "arn:aws:sns:us-west-2:123456789012:alb-logs", "Message": string(event)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeNotification(t *testing.T) {
	put := readTestdata(t, "s3-event-put.json")
	happy := ObjectEvent{EventName: "ObjectCreated:Put", Bucket: "amzn-s3-demo-bucket", Key: "HappyFace.jpg",
		Size: 1024, ETag: "d41d8cd98f00b204e9800998ecf8427e"}
	tests := []struct {
		name    string
		body    []byte
		want    Notification
		wantErr error // nil: success; errAny: any error
	}{
		{name: "aws docs put", body: put, want: Notification{Objects: []ObjectEvent{happy}}},
		{name: "aws docs test event", body: readTestdata(t, "s3-test-event.json"), want: Notification{Test: true}},
		{name: "through sns", body: snsWrap(t, put), want: Notification{Objects: []ObjectEvent{happy}}},
		{name: "form-encoded key", body: []byte(strings.Replace(string(put), `"HappyFace.jpg"`, `"AWSLogs/1/a+b%3Dc.log.gz"`, 1)),
			want: Notification{Objects: []ObjectEvent{{EventName: "ObjectCreated:Put", Bucket: "amzn-s3-demo-bucket",
				Key: "AWSLogs/1/a b=c.log.gz", Size: 1024, ETag: "d41d8cd98f00b204e9800998ecf8427e"}}}},
		{name: "delete event left out", body: []byte(strings.Replace(string(put), "ObjectCreated:Put", "ObjectRemoved:Delete", 1)),
			want: Notification{}},
		{name: "not json", body: []byte("ObjectCreated"), wantErr: errAny},
		{name: "json but not s3", body: []byte(`{"hello":"world"}`), wantErr: ErrNotS3Event},
		{name: "other event source", body: []byte(strings.Replace(string(put), `"aws:s3"`, `"aws:sqs"`, 1)), wantErr: ErrNotS3Event},
		{name: "bad key escape", body: []byte(strings.Replace(string(put), `"HappyFace.jpg"`, `"a%zz"`, 1)), wantErr: errAny},
		{name: "no key", body: []byte(strings.Replace(string(put), `"HappyFace.jpg"`, `""`, 1)), wantErr: errAny},
		{name: "sns wrapping sns", body: snsWrap(t, snsWrap(t, put)), wantErr: ErrNotS3Event},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeNotification(tt.body)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			case tt.wantErr == nil && !reflect.DeepEqual(got, tt.want):
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

var errAny = errors.New("any error")

func FuzzDecodeNotification(f *testing.F) {
	f.Add(readTestdata(f, "s3-event-put.json"))
	f.Add(readTestdata(f, "s3-test-event.json"))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := DecodeNotification(body)
		if err != nil {
			if n.Test || n.Objects != nil {
				t.Fatalf("error %v with a notification %+v", err, n)
			}
			return
		}
		if n.Test && n.Objects != nil {
			t.Fatalf("test event with objects: %+v", n)
		}
		for _, o := range n.Objects {
			if o.Bucket == "" || o.Key == "" || !strings.HasPrefix(o.EventName, "ObjectCreated:") {
				t.Fatalf("object event without bucket, key or ObjectCreated: %+v", o)
			}
		}
	})
}

func TestValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.URL = "s3://logs/AWSLogs/"
	tests := []struct {
		name string
		mod  func(*Config)
		want string // "" valid; else the flag named
	}{
		{name: "defaults", mod: func(*Config) {}},
		{name: "whole bucket", mod: func(c *Config) { c.URL = "s3://logs" }},
		{name: "endpoint and queue", mod: func(c *Config) {
			c.Endpoint, c.QueueURL = "http://127.0.0.1:8333", "https://sqs.us-east-2.amazonaws.com/123456789012/alb"
		}},
		{name: "no url", mod: func(c *Config) { c.URL = "" }, want: "--alb-s3-url"},
		{name: "http url", mod: func(c *Config) { c.URL = "https://logs/x" }, want: "--alb-s3-url"},
		{name: "no bucket", mod: func(c *Config) { c.URL = "s3:///x" }, want: "--alb-s3-url"},
		{name: "bad endpoint", mod: func(c *Config) { c.Endpoint = "127.0.0.1:8333" }, want: "--alb-s3-endpoint"},
		{name: "bad queue", mod: func(c *Config) { c.QueueURL = "alb-queue" }, want: "--alb-sqs-queue-url"},
		{name: "poll", mod: func(c *Config) { c.PollInterval = 0 }, want: "--alb-s3-poll-interval"},
		{name: "lookback", mod: func(c *Config) { c.Lookback = time.Hour }, want: "--alb-s3-lookback"},
		{name: "max line", mod: func(c *Config) { c.MaxLineBytes = 0 }, want: "MaxLineBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestKeyDay(t *testing.T) {
	tests := []struct {
		key  string
		want string // "" none
	}{
		{key: "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2018/07/02/x_20180702T2225Z_1.log.gz", want: "2018-07-02"},
		{key: "logs/2024/02/29/a.log", want: "2024-02-29"},
		{key: "logs/2023/02/29/a.log"}, // no such day
		{key: "AWSLogs/123456789012/ELBAccessLogTestFile"},
		{key: "flat.log.gz"},
		{key: "2018/07/02"}, // a directory-like name with no object below
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			d, ok := keyDay(tt.key)
			got := ""
			if ok {
				got = d.Format("2006-01-02")
			}
			if got != tt.want {
				t.Fatalf("keyDay = %q, want %q", got, tt.want)
			}
		})
	}
}
