package sidecar

import (
	"net/http"
	"slices"
	"strings"

	"github.com/hopscope/hopscope/internal/contract"
)

// noGRPC is grpcStatus's answer for a request that is not a gRPC call.
const noGRPC = -1

// gRPC status codes the sidecar names itself (google.golang.org/grpc/codes).
const (
	grpcUnknown  = 2
	grpcInternal = 13
)

// isGRPC reports whether a Content-Type is gRPC's (application/grpc,
// application/grpc+proto, ...). gRPC-Web's (application/grpc-web...)
// carries its status in the body and is not read.
func isGRPC(ct string) bool {
	rest, ok := strings.CutPrefix(ct, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// grpcStatus returns the gRPC status of a gRPC call's response: the
// grpc-status of its trailers, or of its headers for a trailers-only
// response (an error the app answered at once). The HTTP status of a
// failed call is 200 all the same. status is the response's status as
// the sidecar records it: a 200 gRPC response that ended without any
// grpc-status is a call the client sees fail with INTERNAL (gRPC's
// "server closed the stream without sending trailers").
//
// Called once the handler has returned: ReverseProxy has read the body
// to its end, and with it the trailers, into res.Trailer.
func grpcStatus(res *http.Response, status int) int {
	if res == nil {
		return noGRPC // the app never answered: the HTTP status says it
	}
	v := res.Header.Get(headerGRPCStatus)
	if v == "" {
		v = res.Trailer.Get(headerGRPCStatus)
	}
	if v == "" {
		if status == http.StatusOK {
			return grpcInternal
		}
		return noGRPC
	}
	return parseGRPCStatus(v)
}

// parseGRPCStatus reads a grpc-status value: a decimal code. One that is
// not a number is UNKNOWN, as gRPC Java reads it; one past the known
// codes is kept (the span records it), grpcLabel bounds the label.
func parseGRPCStatus(v string) int {
	if len(v) == 0 || len(v) > 3 {
		return grpcUnknown
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return grpcUnknown
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// grpcLabel is the grpc_code label of a gRPC status: its name, Unknown
// for a code past the known ones (bounded to 17 values), "" (no label)
// for a request that is not a gRPC call.
func grpcLabel(code int) string {
	switch {
	case code == noGRPC:
		return ""
	case code >= 0 && code < len(contract.GRPCCodes):
		return contract.GRPCCodes[code]
	default:
		return contract.GRPCCodes[grpcUnknown]
	}
}

// grpcServerError reports whether a gRPC status is the server's error
// (contract.GRPCServerErrors: UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
// INTERNAL, UNAVAILABLE, DATA_LOSS), which makes a server span's status
// Error as the semantic conventions say; a code past the known ones reads
// as UNKNOWN.
func grpcServerError(code int) bool {
	if code == noGRPC {
		return false
	}
	if code < 0 || code >= len(grpcServerErrorCodes) {
		return true
	}
	return grpcServerErrorCodes[code]
}

// grpcServerErrorCodes is contract.GRPCServerErrors by code.
var grpcServerErrorCodes = func() (t [len(contract.GRPCCodes)]bool) {
	for i, name := range contract.GRPCCodes {
		t[i] = slices.Contains(contract.GRPCServerErrors, name)
	}
	return t
}()
