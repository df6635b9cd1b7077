package contract

// Keys of the sidecar's access-log record, identical in the JSON line on
// stdout and in the msgpack record shipped to Fluent Bit; the collector
// reads forwarded records by them. sidecar/accesslog's package comment
// lists their types.
const (
	LogTime       = "time"
	LogService    = "service"
	LogTraceID    = "trace_id"
	LogSpanID     = "span_id"
	LogRequestID  = "request_id"
	LogMethod     = "method"
	LogPath       = "path"
	LogQuery      = "query"
	LogRoute      = "route"
	LogProto      = "proto"
	LogStatus     = "status"
	LogBytesIn    = "bytes_in"
	LogBytesOut   = "bytes_out"
	LogDurationMS = "duration_ms"
	LogAppMS      = "app_ms"
	LogOverheadMS = "overhead_ms"
	LogQueueMS    = "queue_ms"
	LogClientAddr = "client_addr"
	LogUserAgent  = "user_agent"
)
