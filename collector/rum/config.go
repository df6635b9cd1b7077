package rum

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/correlate/beacon"
)

// Routes of the Handler.
const (
	// ScriptPath serves rum.js.
	ScriptPath = "/rum.js"
	// BeaconPath receives beacons; rum.js posts to it by default.
	BeaconPath = "/v1/rum"
)

// Outcomes of a beacon POST (or of a refused preflight), as passed to
// Config.OnResult. Only ResultAccepted means the beacon was received.
const (
	ResultAccepted        = "accepted"
	ResultTooLarge        = "too_large"
	ResultBadContentType  = "bad_content_type"
	ResultForbiddenOrigin = "forbidden_origin"
	ResultRateLimited     = "rate_limited"
	// ResultGlobalRateLimited: refused by GlobalRatePerSecond, the cap on
	// all clients together.
	ResultGlobalRateLimited = "global_rate_limited"
	ResultInvalid           = "invalid"
	// ResultMemoryLimit: refused by Config.Refuse, the collector's memory
	// limiter.
	ResultMemoryLimit = "memory_limit"
)

// Outcomes of entries of an accepted version 2 beacon, as passed to
// Config.OnEntries with their count.
const (
	// ResultInvalidEntry: an entry (the navigation or one resource) the
	// parser refused; the beacon's other entries were accepted.
	ResultInvalidEntry = "invalid_entry"
	// ResultPageCap: fetch/XHR entries rum.js did not send because the
	// page reached its cap (the beacon's dropped count).
	ResultPageCap = "page_cap"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes  = 64 << 10
	DefaultRatePerSecond = 10
	DefaultBurst         = 50
	DefaultMaxClients    = 16384
	// DefaultGlobalRatePerSecond caps the beacons of all clients together
	// (a page view sends one): a backstop when client addresses cannot be
	// told apart or are forged.
	DefaultGlobalRatePerSecond = 1000
	DefaultTrustedHops         = 1
	DefaultScriptMaxAge        = time.Hour
)

// maxMaxBodyBytes bounds MaxBodyBytes: a beacon is a few KiB, and
// fetch(keepalive) refuses bodies over 64 KiB anyway.
const maxMaxBodyBytes = 1 << 20

// Config configures a Handler. Start from DefaultConfig: it is complete
// except for AllowedOrigins and Consume, which only the caller can know.
type Config struct {
	// AllowedOrigins lists the origins of the pages that may send
	// beacons, written as browsers write the Origin header: scheme, host
	// in lowercase (punycode for international names) and a port only
	// when it is not the scheme's default, e.g. "https://shop.example" or
	// "http://localhost:3000". "*" allows every origin; "null" allows
	// opaque origins (sandboxed frames). A request without an Origin
	// header comes from no browser and is not subject to the list (such
	// a client could send any Origin anyway). Required: an empty list
	// would refuse every browser.
	AllowedOrigins []string
	// MaxBodyBytes bounds the body of a beacon; a larger one is refused
	// with 413. Default 64 KiB (a batch of 20 fetch entries is ~15 KiB;
	// sendBeacon takes at most 64 KiB), at most 1 MiB.
	MaxBodyBytes int64
	// Limits are the beacon parser's limits. Its MaxBytes is replaced by
	// MaxBodyBytes; zero fields take beacon.DefaultLimits().
	Limits beacon.Limits
	// RatePerSecond is the sustained number of beacons one client (one
	// IPv4 address, or one IPv6 /64) may send per second; beyond it,
	// requests are refused with 429 and Retry-After. Default 10 (clients
	// behind one NAT share it).
	RatePerSecond float64
	// Burst is how many beacons a client may send at once before
	// RatePerSecond applies. Default 50.
	Burst int
	// MaxClients bounds the number of clients whose rate is tracked, and
	// so the memory a flood of addresses can take. When full, the least
	// recently seen client is forgotten: if it comes back it starts with a
	// full burst. Default 16384 (a few MiB).
	MaxClients int
	// TrustForwardedFor takes the client's address from X-Forwarded-For
	// instead of the connection's peer: the TrustedHops-th address from
	// the right, the one the outermost trusted proxy added. The addresses
	// left of it are written by the client and never used (rotating them
	// used to escape the limit). Set it only behind proxies that append to
	// the header.
	TrustForwardedFor bool
	// TrustedHops is the number of proxies in front of the endpoint that
	// append to X-Forwarded-For (an ingress: 1; a CDN then an ingress:
	// 2). Default 1. With fewer addresses in the header, the left-most
	// one is taken.
	TrustedHops int
	// GlobalRatePerSecond caps the beacons accepted from all clients
	// together per second (burst: one second's worth); beyond it,
	// requests are refused with 429 (ResultGlobalRateLimited). Default
	// DefaultGlobalRatePerSecond.
	GlobalRatePerSecond float64
	// ScriptMaxAge is how long browsers and CDNs may cache /rum.js.
	// Default 1 hour; revalidation then uses its ETag.
	ScriptMaxAge time.Duration
	// Now returns the current time for the rate limiter; nil means
	// time.Now.
	Now func() time.Time
	// OnResult, if set, is called once for every beacon POST with its
	// outcome (one of the Result constants), and with
	// ResultForbiddenOrigin for a refused preflight. It is called from
	// the request's goroutine and must be safe for concurrent use.
	OnResult func(result string)
	// OnEntries, if set, is called for an accepted beacon that had
	// entries refused (ResultInvalidEntry, with the first entry's
	// *beacon.Error) or reported entries dropped over the page's cap
	// (ResultPageCap, nil error), with their number. A beacon whose every
	// entry is refused is refused as a whole (ResultInvalid, 400) instead.
	// Called as OnResult is.
	OnEntries func(result string, n int, first error)
	// Refuse, if set, is asked for every beacon POST from an allowed
	// origin before the body is read; while it reports true (the
	// collector's memory limiter refusing input) beacons are refused with
	// 429 and Retry-After: 1 (ResultMemoryLimit), before the rate limits
	// take a token. It must be cheap: an atomic load.
	Refuse func() bool
	// Consume receives every accepted entry of a beacon (the navigation,
	// each fetch/XHR call), a *correlate.BrowserTiming as an Input's Record, from the request's goroutine, before the
	// response is written; it must be safe for concurrent use and return
	// quickly (hand the record to a queue). Required.
	Consume consumer.Consumer
}

// DefaultConfig returns the defaults. AllowedOrigins and Consume are left
// empty; Validate refuses the result until they are set.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:        DefaultMaxBodyBytes,
		Limits:              beacon.DefaultLimits(),
		RatePerSecond:       DefaultRatePerSecond,
		Burst:               DefaultBurst,
		MaxClients:          DefaultMaxClients,
		TrustedHops:         DefaultTrustedHops,
		GlobalRatePerSecond: DefaultGlobalRatePerSecond,
		ScriptMaxAge:        DefaultScriptMaxAge,
		Now:                 time.Now,
	}
}

// Validate reports every field that is wrong; each error names its
// field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("rum: Config.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if len(c.AllowedOrigins) == 0 {
		bad("AllowedOrigins", `empty: no page could send beacons; list the pages' origins ("https://shop.example") or "*"`)
	}
	for i, o := range c.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			bad(fmt.Sprintf("AllowedOrigins[%d]", i), "%q: %v", o, err)
		}
	}
	if c.MaxBodyBytes <= 0 || c.MaxBodyBytes > maxMaxBodyBytes {
		bad("MaxBodyBytes", "%d: want 1 to %d", c.MaxBodyBytes, maxMaxBodyBytes)
	}
	if c.Limits.MaxServerTiming < 0 {
		bad("Limits.MaxServerTiming", "%d is negative", c.Limits.MaxServerTiming)
	}
	if c.Limits.MaxStringBytes < 0 {
		bad("Limits.MaxStringBytes", "%d is negative", c.Limits.MaxStringBytes)
	}
	if c.Limits.MaxDuration < 0 {
		bad("Limits.MaxDuration", "%v is negative", c.Limits.MaxDuration)
	}
	if e, l := c.Limits.EarliestTimeOrigin, c.Limits.LatestTimeOrigin; !e.IsZero() && !l.IsZero() && !e.Before(l) {
		bad("Limits.LatestTimeOrigin", "%v is not after EarliestTimeOrigin %v", l, e)
	}
	if !(c.RatePerSecond > 0) || math.IsInf(c.RatePerSecond, 0) {
		bad("RatePerSecond", "%v: want a finite number > 0", c.RatePerSecond)
	}
	if c.Burst < 1 {
		bad("Burst", "%d: want ≥ 1", c.Burst)
	}
	if c.TrustedHops < 1 {
		bad("TrustedHops", "%d: want ≥ 1", c.TrustedHops)
	}
	if !(c.GlobalRatePerSecond >= 1) || math.IsInf(c.GlobalRatePerSecond, 0) {
		bad("GlobalRatePerSecond", "%v: want a finite number ≥ 1", c.GlobalRatePerSecond)
	}
	if c.MaxClients < 1 {
		bad("MaxClients", "%d: want ≥ 1", c.MaxClients)
	}
	if c.ScriptMaxAge < 0 {
		bad("ScriptMaxAge", "%v is negative", c.ScriptMaxAge)
	}
	if c.Consume == nil {
		bad("Consume", "nil: accepted beacons would be lost")
	}
	return errors.Join(errs...)
}

// checkOrigin accepts "*", "null" and serialized http(s) origins.
func checkOrigin(o string) error {
	if o == "*" || o == "null" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil {
		return errors.New(`not an origin (want scheme://host[:port], "*" or "null")`)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return errors.New(`not an http or https origin (want scheme://host[:port], "*" or "null")`)
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("an origin has no user, path, query or fragment (want %q)", u.Scheme+"://"+u.Host)
	}
	for i := 0; i < len(u.Host); i++ {
		if u.Host[i] >= 0x80 {
			return errors.New("write an international host name in punycode (xn--…), as browsers send it")
		}
	}
	want := strings.ToLower(u.Scheme + "://" + u.Host)
	if p := u.Port(); (u.Scheme == "http" && p == "80") || (u.Scheme == "https" && p == "443") {
		want = strings.ToLower(u.Scheme + "://" + u.Hostname())
		if strings.Contains(u.Hostname(), ":") {
			want = strings.ToLower(u.Scheme + "://[" + u.Hostname() + "]")
		}
	}
	if o != want {
		return fmt.Errorf("browsers send it as %q", want)
	}
	return nil
}
