package pgproxy

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/hopscope/hopscope/internal/contract"
)

// authCapture is enough of an Authentication message for its type and
// the start of a SASL mechanism list.
const authCapture = 32

// errorCapture is enough of an ErrorResponse for its severity and
// SQLSTATE, which PostgreSQL sends first; the message and detail (which
// may quote data) are never read.
const errorCapture = 128

// paramCapture is enough of a ParameterStatus for
// standard_conforming_strings and its value.
const paramCapture = 64

// replies decodes what the server sends: a ReadyForQuery ends the oldest
// call in flight, an ErrorResponse before it is that call's error.
type replies struct {
	s   *session
	f   framer
	now time.Time

	ready    bool   // the startup and authentication are over
	auth     string // how the server asked the client to authenticate
	sqlstate string
	severity string
	done     []finished
}

func (be *replies) begin(typ byte, length int) (int, bool, bool) {
	switch typ {
	case 'E':
		// Before the first ReadyForQuery, an error refuses the startup
		// (28P01 for a wrong password): its SQLSTATE and severity are
		// read, as later, never its message.
		return errorCapture, false, true
	case 'S':
		return paramCapture, false, true
	case 'R':
		// The authentication request's type and, for SASL, the first
		// mechanism offered; never a salt, nonce or proof.
		return authCapture, false, true
	case 'Z', 'G', 'W', 'K', 'v', // key data, negotiation
		'1', '2', '3', 'C', 'D', 'I', 'n', 's', 't', 'T', 'V', // query replies
		'N', 'A', // notices and notifications
		'H', 'd', 'c': // copy out
		return 0, false, true
	}
	return 0, false, false
}

func (be *replies) end(m *message) bool {
	switch m.typ {
	case 'Z':
		if be.now.IsZero() {
			be.now = time.Now()
		}
		be.ready = true
		p, ok := be.s.pop()
		if ok {
			f := finished{pending: p, end: be.now, sqlstate: be.sqlstate, severity: be.severity}
			if p.kind == KindConnect {
				f.auth, f.tls = be.auth, be.s.tlsVersion
			}
			be.done = append(be.done, f)
		}
		be.sqlstate, be.severity = "", ""
	case 'E':
		if be.sqlstate == "" {
			be.sqlstate, be.severity = errorFields(m.body)
		}
	case 'R':
		if !be.ready {
			if method := authMethod(m.body); method != "" && (be.auth == "" || be.auth == contract.AuthMethodNone) {
				be.auth = method
			}
		}
	case 'G', 'W':
		be.s.copyStarted()
	case 'S':
		// ParameterStatus, at startup and whenever a reported parameter
		// changes: how the session reads '…' strings.
		if name, rest, ok := cstring(m.body); ok && string(name) == "standard_conforming_strings" {
			if value, _, ok := cstring(rest); ok {
				be.s.nonStandard.Store(string(value) == "off")
			}
		}
	}
	return true
}

// errorFields reads the SQLSTATE and the (untranslated) severity of an
// ErrorResponse.
func errorFields(b []byte) (sqlstate, severity string) {
	var localized []byte
	for len(b) > 0 && b[0] != 0 {
		code := b[0]
		v, rest, ok := cstring(b[1:])
		if !ok {
			break
		}
		b = rest
		switch code {
		case 'C':
			sqlstate = sqlstateString(v)
		case 'V':
			severity = severityString(v)
		case 'S':
			localized = v
		}
	}
	if severity == "" {
		severity = severityString(localized)
	}
	if sqlstate == "" {
		sqlstate = "unknown"
	}
	return sqlstate, severity
}

// sqlstateString is a well-formed SQLSTATE (five digits or upper-case
// letters), else "unknown".
func sqlstateString(v []byte) string {
	if len(v) != 5 {
		return "unknown"
	}
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return "unknown"
		}
	}
	return string(v)
}

// severityString bounds the severity to PostgreSQL's error severities.
func severityString(v []byte) string {
	switch string(v) {
	case "ERROR":
		return "ERROR"
	case "FATAL":
		return "FATAL"
	case "PANIC":
		return "PANIC"
	}
	return "ERROR"
}

// authMethod names the authentication an Authentication message asks
// for (contract.AuthMethod*); "" for the messages that continue an
// exchange already named (SASLContinue, SASLFinal, GSSContinue).
func authMethod(b []byte) string {
	if len(b) < 4 {
		return contract.AuthMethodOther
	}
	switch binary.BigEndian.Uint32(b) {
	case 0:
		return contract.AuthMethodNone
	case 3:
		return contract.AuthMethodCleartext
	case 5:
		return contract.AuthMethodMD5
	case 7, 9:
		return contract.AuthMethodGSS
	case 10:
		for rest := b[4:]; len(rest) > 0 && rest[0] != 0; {
			mech, next, ok := cstring(rest)
			if bytes.Equal(mech, []byte("SCRAM-SHA-256")) {
				return contract.AuthMethodSCRAM
			}
			if !ok {
				break
			}
			rest = next
		}
		return contract.AuthMethodSASL
	case 8, 11, 12:
		return ""
	}
	return contract.AuthMethodOther
}
