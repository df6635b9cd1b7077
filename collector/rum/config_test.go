package rum

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

func TestDefaultConfigNeedsOriginsAndConsume(t *testing.T) {
	err := DefaultConfig().Validate()
	if err == nil {
		t.Fatal("DefaultConfig validated without AllowedOrigins and Consume")
	}
	want := "rum: Config.AllowedOrigins: empty: no page could send beacons; list the pages' origins (\"https://shop.example\") or \"*\"\n" +
		"rum: Config.Consume: nil: accepted beacons would be lost"
	if err.Error() != want {
		t.Fatalf("err =\n%v\nwant\n%s", err, want)
	}
	cfg := DefaultConfig()
	cfg.AllowedOrigins = []string{"*"}
	cfg.Consume = beacons(func(correlate.BrowserTiming) {})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(DefaultConfig()); err == nil {
		t.Fatal("New accepted an invalid config")
	}
	cfg.Now, cfg.OnResult = nil, nil // both optional
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.AllowedOrigins = []string{"https://shop.example/"} },
			`rum: Config.AllowedOrigins[0]: "https://shop.example/": an origin has no user, path, query or fragment (want "https://shop.example")`},
		{func(c *Config) { c.AllowedOrigins = []string{"*", "https://Shop.Example"} },
			`rum: Config.AllowedOrigins[1]: "https://Shop.Example": browsers send it as "https://shop.example"`},
		{func(c *Config) { c.AllowedOrigins = []string{"https://shop.example:443"} },
			`rum: Config.AllowedOrigins[0]: "https://shop.example:443": browsers send it as "https://shop.example"`},
		{func(c *Config) { c.AllowedOrigins = []string{"http://[::1]:80"} },
			`rum: Config.AllowedOrigins[0]: "http://[::1]:80": browsers send it as "http://[::1]"`},
		{func(c *Config) { c.AllowedOrigins = []string{"shop.example"} },
			`rum: Config.AllowedOrigins[0]: "shop.example": not an http or https origin (want scheme://host[:port], "*" or "null")`},
		{func(c *Config) { c.AllowedOrigins = []string{"https://bücher.example"} },
			`rum: Config.AllowedOrigins[0]: "https://bücher.example": write an international host name in punycode (xn--…), as browsers send it`},
		{func(c *Config) { c.AllowedOrigins = []string{"http://%zz"} },
			`rum: Config.AllowedOrigins[0]: "http://%zz": not an origin (want scheme://host[:port], "*" or "null")`},
		{func(c *Config) { c.MaxBodyBytes = 0 }, "rum: Config.MaxBodyBytes: 0: want 1 to 1048576"},
		{func(c *Config) { c.MaxBodyBytes = 2 << 20 }, "rum: Config.MaxBodyBytes: 2097152: want 1 to 1048576"},
		{func(c *Config) { c.Limits.MaxServerTiming = -1 }, "rum: Config.Limits.MaxServerTiming: -1 is negative"},
		{func(c *Config) { c.Limits.MaxStringBytes = -1 }, "rum: Config.Limits.MaxStringBytes: -1 is negative"},
		{func(c *Config) { c.Limits.MaxDuration = -time.Second }, "rum: Config.Limits.MaxDuration: -1s is negative"},
		{func(c *Config) { c.Limits.LatestTimeOrigin = c.Limits.EarliestTimeOrigin },
			"rum: Config.Limits.LatestTimeOrigin: 2010-01-01 00:00:00 +0000 UTC is not after EarliestTimeOrigin 2010-01-01 00:00:00 +0000 UTC"},
		{func(c *Config) { c.RatePerSecond = 0 }, "rum: Config.RatePerSecond: 0: want a finite number > 0"},
		{func(c *Config) { c.RatePerSecond = math.NaN() }, "rum: Config.RatePerSecond: NaN: want a finite number > 0"},
		{func(c *Config) { c.RatePerSecond = math.Inf(1) }, "rum: Config.RatePerSecond: +Inf: want a finite number > 0"},
		{func(c *Config) { c.Burst = 0 }, "rum: Config.Burst: 0: want ≥ 1"},
		{func(c *Config) { c.MaxClients = 0 }, "rum: Config.MaxClients: 0: want ≥ 1"},
		{func(c *Config) { c.ScriptMaxAge = -time.Second }, "rum: Config.ScriptMaxAge: -1s is negative"},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.AllowedOrigins = []string{pageOrigin}
		cfg.Consume = beacons(func(correlate.BrowserTiming) {})
		tt.edit(&cfg)
		err := cfg.Validate()
		if err == nil || err.Error() != tt.want {
			t.Errorf("Validate() =\n%v\nwant\n%s", err, tt.want)
		}
	}
	// Every error at once, one per line.
	cfg := Config{MaxBodyBytes: -1}
	lines := strings.Split(cfg.Validate().Error(), "\n")
	for _, f := range []string{"AllowedOrigins", "MaxBodyBytes", "RatePerSecond", "Burst", "MaxClients", "Consume"} {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, "rum: Config."+f+":")
		}
		if !found {
			t.Errorf("no error names %s: %q", f, lines)
		}
	}
}

func TestCheckOriginAccepts(t *testing.T) {
	for _, o := range []string{"*", "null", "https://shop.example", "http://localhost:3000", "http://127.0.0.1:8080",
		"http://[::1]:8080", "https://xn--bcher-kva.example", "https://shop.example:8443"} {
		if err := checkOrigin(o); err != nil {
			t.Errorf("checkOrigin(%q) = %v", o, err)
		}
	}
}
