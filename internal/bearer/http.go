package bearer

import (
	"context"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Realm names the protected space in WWW-Authenticate.
const Realm = "hopscope"

// Handler lets through the requests whose Authorization header carries an
// accepted token and answers the others 401 with a WWW-Authenticate
// challenge (RFC 6750 §3), calling refused for each. Nil tokens: next as
// it is.
func Handler(t *Tokens, next http.Handler, refused func()) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !t.Authorized(r.Header.Get("Authorization")) {
			if refused != nil {
				refused()
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+Realm+`"`)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("a bearer token is required (Authorization: Bearer <token>)\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// CheckIncoming returns a codes.Unauthenticated error unless the incoming
// call's "authorization" metadata (exactly one) carries an accepted token.
// Nil tokens: nil.
func CheckIncoming(ctx context.Context, t *Tokens) error {
	if t == nil {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) == 1 && t.Authorized(v[0]) {
		return nil
	}
	return status.Error(codes.Unauthenticated, "a bearer token is required (authorization: Bearer <token>)")
}
