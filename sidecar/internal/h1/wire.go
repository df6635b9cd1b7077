package h1

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// hasBody reports whether req has a body to send (ReverseProxy sets an
// empty body to nil).
func hasBody(req *http.Request) bool {
	return req.Body != nil && req.Body != http.NoBody && req.ContentLength != 0
}

// hasToken reports whether the comma-separated header value v lists token
// (ASCII case-insensitive).
func hasToken(v, token string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// writeHead writes req's request line and headers in HTTP/1.1 wire format.
// The headers are written as they are (ReverseProxy has already removed the
// hop-by-hop ones); a body of unknown length is announced chunked.
func writeHead(w *bufio.Writer, req *http.Request) {
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(req.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	w.WriteString(host)
	w.WriteString("\r\n")
	for k, vv := range req.Header {
		if k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" || k == "Connection" {
			continue
		}
		for _, v := range vv {
			if v == "" && k == "User-Agent" {
				continue // ReverseProxy's marker for "send no User-Agent"
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(sanitizeHeaderValue(v))
			w.WriteString("\r\n")
		}
	}
	switch {
	case hasBody(req) && req.ContentLength > 0:
		w.WriteString("Content-Length: ")
		var num [20]byte
		w.Write(strconv.AppendInt(num[:0], req.ContentLength, 10))
		w.WriteString("\r\n\r\n")
	case hasBody(req):
		if len(req.Trailer) > 0 {
			// Announced as http.Transport does; the values follow the
			// body (writeChunked).
			keys := make([]string, 0, len(req.Trailer))
			for k := range req.Trailer {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			w.WriteString("Trailer: ")
			w.WriteString(sanitizeHeaderValue(strings.Join(keys, ",")))
			w.WriteString("\r\n")
		}
		w.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	default:
		if req.Method == "POST" || req.Method == "PUT" || req.Method == "PATCH" {
			w.WriteString("Content-Length: 0\r\n")
		}
		w.WriteString("\r\n")
	}
}

// writeLengthBody copies n bytes of body into w's own buffer (no copy
// buffer of its own), flushing as it fills.
func writeLengthBody(w *bufio.Writer, body io.Reader, n int64) error {
	for sent := int64(0); sent < n; {
		if w.Available() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		buf := w.AvailableBuffer()[:min(int64(w.Available()), n-sent)]
		m, err := body.Read(buf)
		w.Write(buf[:m])
		sent += int64(m)
		if err == io.EOF && sent < n {
			return BodyReadError{fmt.Errorf("%d of %d bytes: %w", sent, n, io.ErrUnexpectedEOF)}
		}
		if err != nil && err != io.EOF {
			return BodyReadError{err}
		}
	}
	return nil
}

// writeChunked sends body chunked, a chunk per read, each flushed at once
// (a streamed upload reaches the app as it comes). The chunk is read into
// w's buffer past room for its size line and moved into place after it.
func writeChunked(w *bufio.Writer, body io.Reader, trailer http.Header) error {
	const room = 8 // "3ff6\r\n" for the largest chunk of a 16 KiB buffer, and spare
	var hdr [20]byte
	for {
		if w.Available() < room+2+64 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		buf := w.AvailableBuffer()[:w.Available()]
		n, err := body.Read(buf[room : len(buf)-2])
		if n > 0 {
			w.Write(strconv.AppendUint(hdr[:0], uint64(n), 16))
			w.WriteString("\r\n")
			w.Write(buf[room : room+n]) // overlapping move down: copy is memmove
			w.WriteString("\r\n")
			if ferr := w.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			// The last chunk, then the trailer section: trailer is the
			// inbound request's map, which net/http fills once its body
			// is read to the end, so its values are there now.
			w.WriteString("0\r\n")
			for k, vv := range trailer {
				for _, v := range vv {
					w.WriteString(k)
					w.WriteString(": ")
					w.WriteString(sanitizeHeaderValue(v))
					w.WriteString("\r\n")
				}
			}
			_, werr := w.WriteString("\r\n")
			return werr
		}
		if err != nil {
			return BodyReadError{err}
		}
	}
}

// sanitizeHeaderValue drops CR and LF so no value can split the request.
// net/http's server has already rejected such values inbound; this keeps
// header injection impossible even from values the sidecar itself sets.
func sanitizeHeaderValue(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] == '\r' || v[i] == '\n' {
			b := []byte(v)
			for j := range b {
				if b[j] == '\r' || b[j] == '\n' {
					b[j] = ' '
				}
			}
			return string(b)
		}
	}
	return v
}
