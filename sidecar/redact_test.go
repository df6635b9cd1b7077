package sidecar

import "testing"

func TestRedactQuery(t *testing.T) {
	r := newQueryRedactor([]string{"token", "api_key", "X-Amz-Signature"})
	tests := []struct{ in, want string }{
		{"", ""},
		{"a=1&b=2", "a=1&b=2"},
		{"token=s3cr3t", "token=REDACTED"},
		{"a=1&token=s3cr3t&b=2", "a=1&token=REDACTED&b=2"},
		{"TOKEN=s3cr3t", "TOKEN=REDACTED"},
		{"api%5Fkey=s3cr3t", "api%5Fkey=REDACTED"},
		{"x-amz-signature=abc&X-Amz-Date=1", "x-amz-signature=REDACTED&X-Amz-Date=1"},
		{"token", "token"}, // no value, nothing to hide
		{"a=1&&token=x&", "a=1&&token=REDACTED&"},
		{"tokens=x", "tokens=x"},
	}
	for _, tt := range tests {
		if got := r.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRedactQueryDefaults: the default list covers the credentials the
// audit found leaking (issue 19, item 12), in bracketed form-field keys
// too, and a query split on ; as some servers read it; names that only
// contain a sensitive word stay.
func TestRedactQueryDefaults(t *testing.T) {
	r := newQueryRedactor(DefaultConfig().RedactQueryParams)
	for _, tt := range []struct{ in, want string }{
		{"X-Amz-Security-Token=FwoGZX&X-Amz-Date=20261206", "X-Amz-Security-Token=REDACTED&X-Amz-Date=20261206"},
		{"pwd=a&passwd=b&client_secret=c", "pwd=REDACTED&passwd=REDACTED&client_secret=REDACTED"},
		{"refresh_token=a&jwt=b&auth=c", "refresh_token=REDACTED&jwt=REDACTED&auth=REDACTED"},
		{"session_id=a&private_token=b&page=2", "session_id=REDACTED&private_token=REDACTED&page=2"},
		{"user[name]=bob&user[password]=hunter2", "user[name]=bob&user[password]=REDACTED"},
		{"user%5Bpassword%5D=hunter2", "user%5Bpassword%5D=REDACTED"},
		{"password[]=a&filter[api_key]=b&a[b][token]=c", "password[]=REDACTED&filter[api_key]=REDACTED&a[b][token]=REDACTED"},
		{"a=1;token=s3cr3t;b=2", "a=1;token=REDACTED;b=2"},
		{"token=x;y&pwd=z", "token=REDACTED;y&pwd=REDACTED"},
		{"tokens=x&author=y&keyword=z&passwords=w", "tokens=x&author=y&keyword=z&passwords=w"},
	} {
		if got := r.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
