package accesslog

import (
	"time"

	"github.com/tinylib/msgp/msgp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hopscope/hopscope/internal/contract"
)

// Keys of a record, in the JSON line and in the msgpack record alike: the
// contract's (internal/contract, accesslog.go). The package comment lists
// their types.
const (
	KeyTime        = contract.LogTime
	KeyService     = contract.LogService
	KeyTraceID     = contract.LogTraceID
	KeySpanID      = contract.LogSpanID
	KeyRequestID   = contract.LogRequestID
	KeyMethod      = contract.LogMethod
	KeyPath        = contract.LogPath
	KeyQuery       = contract.LogQuery
	KeyRoute       = contract.LogRoute
	KeyProto       = contract.LogProto
	KeyStatus      = contract.LogStatus
	KeyBytesIn     = contract.LogBytesIn
	KeyBytesOut    = contract.LogBytesOut
	KeyDurationMS  = contract.LogDurationMS
	KeyAppMS       = contract.LogAppMS
	KeyOverheadMS  = contract.LogOverheadMS
	KeyQueueMS     = contract.LogQueueMS
	KeyClientAddr  = contract.LogClientAddr
	KeyUserAgent   = contract.LogUserAgent
	numRecordKeys  = 19
	numAlwaysKeys  = numRecordKeys - 2 // query and queue_ms are optional
	timeFormat     = time.RFC3339Nano
	maxTimeTextLen = len("-2006-01-02T15:04:05.999999999Z") + 8
)

// Record is the access-log record of one request. The caller fills it;
// Logger.Log does not keep it after returning.
type Record struct {
	// Time is when the request arrived.
	Time time.Time
	// Service is the name of the service the sidecar fronts.
	Service string
	// TraceID and SpanID identify the sidecar's span (lowercase hex).
	TraceID, SpanID string
	// RequestID is the X-Request-ID of the request.
	RequestID string
	// Method and Path come from the request line.
	Method, Path string
	// Query is the query string, already redacted by the caller.
	Query string
	// Route is the matched route template.
	Route string
	// Proto is the HTTP protocol version, e.g. "HTTP/1.1".
	Proto string
	// Status is the response status code.
	Status int
	// BytesIn and BytesOut count request and response body bytes.
	BytesIn, BytesOut int64
	// Duration is the whole request as the sidecar saw it.
	Duration time.Duration
	// AppDuration is the part spent in the app.
	AppDuration time.Duration
	// Overhead is the part spent in the sidecar.
	Overhead time.Duration
	// QueueTime is the time queued before the sidecar, valid when
	// HasQueueTime.
	QueueTime    time.Duration
	HasQueueTime bool
	// ClientAddr is the peer address of the request.
	ClientAddr string
	// UserAgent is the User-Agent header.
	UserAgent string
}

// Millis converts d to float milliseconds rounded to the microsecond, the
// form every *_ms key carries.
func Millis(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)/time.Microsecond) / 1000
}

// utcTimeEncoder writes times as RFC 3339 with nanoseconds in UTC without
// allocating (zap's JSON encoder formats into its own buffer).
func utcTimeEncoder(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
	zapcore.RFC3339NanoTimeEncoder(t.UTC(), enc)
}

// appendFields appends r as zap fields in key order.
func (r *Record) appendFields(f []zapcore.Field) []zapcore.Field {
	f = append(f,
		zap.Time(KeyTime, r.Time),
		zap.String(KeyService, r.Service),
		zap.String(KeyTraceID, r.TraceID),
		zap.String(KeySpanID, r.SpanID),
		zap.String(KeyRequestID, r.RequestID),
		zap.String(KeyMethod, r.Method),
		zap.String(KeyPath, r.Path),
	)
	if r.Query != "" {
		f = append(f, zap.String(KeyQuery, r.Query))
	}
	f = append(f,
		zap.String(KeyRoute, r.Route),
		zap.String(KeyProto, r.Proto),
		zap.Int(KeyStatus, r.Status),
		zap.Int64(KeyBytesIn, r.BytesIn),
		zap.Int64(KeyBytesOut, r.BytesOut),
		zap.Float64(KeyDurationMS, Millis(r.Duration)),
		zap.Float64(KeyAppMS, Millis(r.AppDuration)),
		zap.Float64(KeyOverheadMS, Millis(r.Overhead)),
	)
	if r.HasQueueTime {
		f = append(f, zap.Float64(KeyQueueMS, Millis(r.QueueTime)))
	}
	return append(f,
		zap.String(KeyClientAddr, r.ClientAddr),
		zap.String(KeyUserAgent, r.UserAgent),
	)
}

// MarshalMsg implements msgp.Marshaler: it appends r to b as a msgpack map
// with the same keys and value types as the JSON line (time as the same
// RFC 3339 string, integers as ints, durations as float64 milliseconds).
func (r *Record) MarshalMsg(b []byte) ([]byte, error) {
	n := uint32(numAlwaysKeys)
	if r.Query != "" {
		n++
	}
	if r.HasQueueTime {
		n++
	}
	b = msgp.Require(b, r.Msgsize())
	b = msgp.AppendMapHeader(b, n)

	var tbuf [maxTimeTextLen]byte
	b = msgp.AppendString(b, KeyTime)
	b = msgp.AppendStringFromBytes(b, r.Time.UTC().AppendFormat(tbuf[:0], timeFormat))
	b = appendKV(b, KeyService, r.Service)
	b = appendKV(b, KeyTraceID, r.TraceID)
	b = appendKV(b, KeySpanID, r.SpanID)
	b = appendKV(b, KeyRequestID, r.RequestID)
	b = appendKV(b, KeyMethod, r.Method)
	b = appendKV(b, KeyPath, r.Path)
	if r.Query != "" {
		b = appendKV(b, KeyQuery, r.Query)
	}
	b = appendKV(b, KeyRoute, r.Route)
	b = appendKV(b, KeyProto, r.Proto)
	b = msgp.AppendString(b, KeyStatus)
	b = msgp.AppendInt(b, r.Status)
	b = msgp.AppendString(b, KeyBytesIn)
	b = msgp.AppendInt64(b, r.BytesIn)
	b = msgp.AppendString(b, KeyBytesOut)
	b = msgp.AppendInt64(b, r.BytesOut)
	b = msgp.AppendString(b, KeyDurationMS)
	b = msgp.AppendFloat64(b, Millis(r.Duration))
	b = msgp.AppendString(b, KeyAppMS)
	b = msgp.AppendFloat64(b, Millis(r.AppDuration))
	b = msgp.AppendString(b, KeyOverheadMS)
	b = msgp.AppendFloat64(b, Millis(r.Overhead))
	if r.HasQueueTime {
		b = msgp.AppendString(b, KeyQueueMS)
		b = msgp.AppendFloat64(b, Millis(r.QueueTime))
	}
	b = appendKV(b, KeyClientAddr, r.ClientAddr)
	b = appendKV(b, KeyUserAgent, r.UserAgent)
	return b, nil
}

func appendKV(b []byte, k, v string) []byte {
	return msgp.AppendString(msgp.AppendString(b, k), v)
}

// Msgsize returns an upper bound of the size of r's msgpack encoding.
func (r *Record) Msgsize() int {
	const keys = len(KeyTime + KeyService + KeyTraceID + KeySpanID + KeyRequestID + KeyMethod +
		KeyPath + KeyQuery + KeyRoute + KeyProto + KeyStatus + KeyBytesIn + KeyBytesOut +
		KeyDurationMS + KeyAppMS + KeyOverheadMS + KeyQueueMS + KeyClientAddr + KeyUserAgent)
	n := msgp.MapHeaderSize + keys + numRecordKeys*msgp.StringPrefixSize // keys
	n += msgp.StringPrefixSize + maxTimeTextLen
	for _, s := range [...]string{r.Service, r.TraceID, r.SpanID, r.RequestID, r.Method, r.Path,
		r.Query, r.Route, r.Proto, r.ClientAddr, r.UserAgent} {
		n += msgp.StringPrefixSize + len(s)
	}
	n += msgp.IntSize + 2*msgp.Int64Size + 4*msgp.Float64Size
	return n
}

var _ msgp.Marshaler = (*Record)(nil)
