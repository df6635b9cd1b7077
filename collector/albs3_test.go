package collector

import (
	"flag"
	"strings"
	"testing"
	"time"
)

// TestALBS3Flags: the --alb-s3-* flags reach the S3 reader's
// configuration, and their errors name the flag.
func TestALBS3Flags(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--alb-s3-url=s3://logs/AWSLogs/", "--alb-s3-region=eu-west-1",
		"--alb-s3-endpoint=http://127.0.0.1:8333", "--alb-s3-path-style", "--alb-s3-poll-interval=5s",
		"--alb-s3-lookback=72h", "--alb-sqs-queue-url=https://sqs.eu-west-1.amazonaws.com/123456789012/alb",
		"--state-dir=/var/lib/hopscope"}); err != nil {
		t.Fatal(err)
	}
	a := cfg.albS3Config()
	if a.URL != "s3://logs/AWSLogs/" || a.Region != "eu-west-1" || a.Endpoint != "http://127.0.0.1:8333" || !a.PathStyle ||
		a.PollInterval != 5*time.Second || a.Lookback != 72*time.Hour || a.StateDir != "/var/lib/hopscope" ||
		a.QueueURL != "https://sqs.eu-west-1.amazonaws.com/123456789012/alb" {
		t.Fatalf("albS3Config() = %+v", a)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"off", func(c *Config) {}, ""},
		{"on", func(c *Config) { c.ALBS3URL = "s3://logs" }, ""},
		{"not s3", func(c *Config) { c.ALBS3URL = "/mnt/logs" }, "--alb-s3-url"},
		{"queue without url", func(c *Config) { c.ALBSQSQueueURL = "https://sqs.eu-west-1.amazonaws.com/1/q" }, "--alb-s3-url"},
		{"bad endpoint", func(c *Config) { c.ALBS3URL, c.ALBS3Endpoint = "s3://logs", "localhost" }, "--alb-s3-endpoint"},
		{"no poll", func(c *Config) { c.ALBS3URL, c.ALBS3PollInterval = "s3://logs", 0 }, "--alb-s3-poll-interval"},
		{"short lookback", func(c *Config) { c.ALBS3URL, c.ALBS3Lookback = "s3://logs", time.Hour }, "--alb-s3-lookback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
