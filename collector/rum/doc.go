// Package rum is the collector's public real-user-monitoring endpoint: an
// http.Handler that serves the browser script and receives its beacons.
//
// It is meant to be served on its own listener (the collector's public
// port 8089), apart from the internal API on 8088: it faces the internet,
// so it offers nothing but these two routes, refuses what it does not
// expect, and bounds what a client can make it do.
//
//   - GET /rum.js serves the script, embedded in the binary. A page
//     includes it with
//
//     <script src="https://rum.shop.example/rum.js" async></script>
//
//     After the load event the script reads the page's
//     PerformanceNavigationTiming and sends one beacon (the format of
//     package github.com/hopscope/hopscope/correlate/beacon) with
//     navigator.sendBeacon as text/plain, which needs no CORS preflight,
//     falling back to fetch with keepalive. It posts to /v1/rum on the
//     origin it was loaded from, or to the URL in the script tag's
//     data-endpoint attribute. It never throws into the page, sends at
//     most once, skips documents served from the browser's cache, and
//     leaves the query string and fragment of the page URL out.
//
//   - POST /v1/rum receives a beacon. In order, it refuses: a browser
//     Origin not in Config.AllowedOrigins (403); a Content-Type other than
//     text/plain or application/json (415); a client over its rate (429,
//     with Retry-After); a body over Config.MaxBodyBytes (413); a beacon
//     that beacon.Parse refuses (400, with the parse error). Refusals
//     carry a JSON body {"error": "...", "field": "..."}. An accepted
//     beacon goes to Config.Consume and is answered 204. OPTIONS answers
//     a CORS preflight from an allowed origin with 204.
//
// Every outcome of a POST is reported to Config.OnResult, so that the
// collector can count received and rejected beacons.
//
// The Handler does not set server timeouts: the http.Server it is
// mounted on should have ReadHeaderTimeout, ReadTimeout and IdleTimeout
// set, since the endpoint is public.
package rum
