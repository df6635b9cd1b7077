package pgproxy

import (
	"bytes"
	"unicode/utf8"

	"github.com/hopscope/hopscope/internal/contract"
)

// Statement kinds: the operation label of a call, a bounded set.
const (
	KindSelect   = "SELECT"
	KindInsert   = "INSERT"
	KindUpdate   = "UPDATE"
	KindDelete   = "DELETE"
	KindBegin    = "BEGIN"
	KindCommit   = "COMMIT"
	KindRollback = "ROLLBACK"
	KindCopy     = "COPY"
	KindCreate   = "CREATE"
	KindAlter    = "ALTER"
	KindDrop     = "DROP"
	KindWith     = "WITH"
	KindSet      = "SET"
	KindShow     = "SHOW"
	KindOther    = "OTHER"
	// KindConnect is a connection's startup: from the client's
	// StartupMessage to the server's first ReadyForQuery (the
	// authentication exchange and the ParameterStatus reports included),
	// or to the error that refused it.
	KindConnect = contract.OpConnect
)

// MaxText caps the normalised statement text of a span.
const MaxText = 1024

// keywords maps a statement's first word to its kind.
var keywords = []struct {
	word string
	kind string
}{
	{"SELECT", KindSelect}, {"INSERT", KindInsert}, {"UPDATE", KindUpdate}, {"DELETE", KindDelete},
	{"BEGIN", KindBegin}, {"START", KindBegin}, {"COMMIT", KindCommit}, {"END", KindCommit},
	{"ROLLBACK", KindRollback}, {"ABORT", KindRollback}, {"COPY", KindCopy}, {"CREATE", KindCreate},
	{"ALTER", KindAlter}, {"DROP", KindDrop}, {"WITH", KindWith}, {"SET", KindSet}, {"SHOW", KindShow},
}

// StatementKind names a statement by its first keyword; a multi-statement
// string is named by its first statement. WITH … SELECT (INSERT, UPDATE,
// DELETE) is named by its main statement when it lies within sql.
func StatementKind(sql []byte) string {
	s := scanner{src: sql}
	word := s.word(true)
	kind := KindOther
	for _, k := range keywords {
		if bytes.EqualFold(word, []byte(k.word)) {
			kind = k.kind
			break
		}
	}
	if kind != KindWith {
		return kind
	}
	// The main statement of a WITH is the first of these keywords outside
	// the parentheses of the common table expressions.
	for {
		w := s.word(false)
		if w == nil {
			return KindWith
		}
		if s.depth != 0 {
			continue
		}
		for _, k := range [...]string{KindSelect, KindInsert, KindUpdate, KindDelete} {
			if bytes.EqualFold(w, []byte(k)) {
				return k
			}
		}
	}
}

// scanner walks SQL words, skipping literals, quoted identifiers and
// comments, and tracks the parenthesis depth.
type scanner struct {
	src   []byte
	i     int
	depth int
}

// word returns the next bare word, or nil at the end (or, when first, at
// anything but a word or an opening parenthesis).
func (s *scanner) word(first bool) []byte {
	src := s.src
	for s.i < len(src) {
		c := src[s.i]
		switch {
		case isSpace(c):
			s.i++
		case c == '-' && s.i+1 < len(src) && src[s.i+1] == '-':
			s.i = skipLineComment(src, s.i)
		case c == '/' && s.i+1 < len(src) && src[s.i+1] == '*':
			s.i = skipBlockComment(src, s.i)
		case c == '(':
			s.depth++
			s.i++
		case c == ')':
			if s.depth > 0 {
				s.depth--
			}
			s.i++
		case first && !isIdentStart(c):
			return nil
		case c == '\'':
			s.i = skipQuoted(src, s.i, '\'', false)
		case c == '"':
			s.i = skipQuoted(src, s.i, '"', false)
		case c == '$':
			if end, ok := dollarQuoteEnd(src, s.i); ok {
				s.i = end
			} else {
				s.i++
			}
		case isIdentStart(c):
			start := s.i
			for s.i < len(src) && isIdentPart(src[s.i]) {
				s.i++
			}
			return src[start:s.i]
		default:
			s.i++
		}
	}
	return nil
}

// Normalize appends to dst the statement with its literals (strings,
// numbers, dollar-quoted strings) replaced by ?, comments dropped and
// whitespace collapsed, at most MaxText bytes (cut on a character
// boundary). Parameters ($1) and identifiers are kept, except in the value
// of a SET (SET name TO value, SET name = value, ALTER … SET name TO
// value), which is a value even unquoted (SET app.api_key TO secret): every
// word of it is ?. Strings are read as with standard_conforming_strings on
// (NormalizeSession for a session that turned it off).
func Normalize(dst, src []byte) []byte { return NormalizeSession(dst, src, true) }

// NormalizeSession is Normalize for a session whose
// standard_conforming_strings is standard (on, PostgreSQL's default since
// 9.1) or not: when off, a backslash in a plain '…' string escapes the
// next character (\' does not end it), as in E'…'.
func NormalizeSession(dst, src []byte, standard bool) []byte {
	o := out{dst: dst, base: len(dst)}
	i := 0
	// The statement being read (they are separated by ;): how many words
	// it has had, whether it is a SET (or an ALTER, which may hold one),
	// and whether its value has begun.
	var words int
	var set, alter, value bool
	for i < len(src) && len(o.dst)-o.base < MaxText {
		c := src[i]
		switch {
		case isSpace(c):
			o.space = true
			i++
		case c == '-' && i+1 < len(src) && src[i+1] == '-':
			i = skipLineComment(src, i)
			o.space = true
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			i = skipBlockComment(src, i)
			o.space = true
		case c == '\'':
			i = skipQuoted(src, i, '\'', !standard)
			o.byte('?')
		case c == '"':
			end := skipQuoted(src, i, '"', false)
			if value {
				o.byte('?') // SET app.key TO "secret" is a value too
			} else {
				o.bytes(src[i:end])
			}
			i = end
		case c == '$':
			if i+1 < len(src) && isDigit(src[i+1]) {
				end := i + 1
				for end < len(src) && isDigit(src[end]) {
					end++
				}
				o.bytes(src[i:end])
				i = end
			} else if end, ok := dollarQuoteEnd(src, i); ok {
				o.byte('?')
				i = end
			} else {
				o.byte(c)
				i++
			}
		case isDigit(c) || (c == '.' && i+1 < len(src) && isDigit(src[i+1])):
			i = skipNumber(src, i)
			o.byte('?')
		case isIdentStart(c):
			end := i
			for end < len(src) && isIdentPart(src[end]) {
				end++
			}
			w := src[i:end]
			switch {
			case end < len(src) && src[end] == '\'' && len(w) == 1 && isStringPrefix(w[0]):
				// E'…', B'…', X'…', N'…': E strings take backslash
				// escapes, and all do with standard_conforming_strings off.
				i = skipQuoted(src, end, '\'', w[0] == 'e' || w[0] == 'E' || !standard)
				o.byte('?')
			case end+1 < len(src) && src[end] == '&' && src[end+1] == '\'' && len(w) == 1 && (w[0] == 'u' || w[0] == 'U'):
				i = skipQuoted(src, end+1, '\'', false)
				o.byte('?')
			case value:
				o.byte('?')
				i = end
			default:
				switch {
				case words == 0:
					set, alter = bytes.EqualFold(w, []byte("SET")), bytes.EqualFold(w, []byte("ALTER"))
				case alter && bytes.EqualFold(w, []byte("SET")):
					set = true
				case set && bytes.EqualFold(w, []byte("TO")):
					value = true
				}
				words++
				o.bytes(w)
				i = end
			}
		default:
			switch c {
			case ';':
				words, set, alter, value = 0, false, false, false
			case '=':
				value = value || set
			}
			o.byte(c)
			i++
		}
	}
	dst = o.dst
	if len(dst)-o.base > MaxText {
		cut := o.base + MaxText
		for cut > o.base && !utf8.RuneStart(dst[cut]) {
			cut--
		}
		dst = dst[:cut]
	}
	return dst
}

// out is Normalize's output: a pending space is written before the next
// token, never first.
type out struct {
	dst   []byte
	base  int
	space bool
}

func (o *out) sep() {
	if o.space && len(o.dst) > o.base {
		o.dst = append(o.dst, ' ')
	}
	o.space = false
}

func (o *out) byte(c byte) {
	o.sep()
	o.dst = append(o.dst, c)
}

func (o *out) bytes(b []byte) {
	o.sep()
	o.dst = append(o.dst, b...)
}

func isStringPrefix(c byte) bool {
	switch c {
	case 'e', 'E', 'b', 'B', 'x', 'X', 'n', 'N':
		return true
	}
	return false
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }

// skipLineComment returns the index after a -- comment starting at i.
func skipLineComment(src []byte, i int) int {
	if j := bytes.IndexByte(src[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(src)
}

// skipBlockComment returns the index after a (nested) /* */ comment
// starting at i.
func skipBlockComment(src []byte, i int) int {
	depth := 0
	for i < len(src) {
		switch {
		case src[i] == '/' && i+1 < len(src) && src[i+1] == '*':
			depth++
			i += 2
		case src[i] == '*' && i+1 < len(src) && src[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(src)
}

// skipQuoted returns the index after the quoted text starting at i (a
// doubled quote is part of it; with backslash, so is \').
func skipQuoted(src []byte, i int, q byte, backslash bool) int {
	i++
	for i < len(src) {
		switch c := src[i]; {
		case backslash && c == '\\':
			i += 2
		case c == q:
			if i+1 < len(src) && src[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		default:
			i++
		}
	}
	return len(src)
}

// dollarQuoteEnd returns the index after a $tag$…$tag$ string starting at
// i, if one starts there.
func dollarQuoteEnd(src []byte, i int) (int, bool) {
	j := i + 1
	if j < len(src) && isIdentStart(src[j]) {
		for j < len(src) && isIdentPart(src[j]) && src[j] != '$' {
			j++
		}
	}
	if j >= len(src) || src[j] != '$' {
		return 0, false
	}
	tag := src[i : j+1]
	if k := bytes.Index(src[j+1:], tag); k >= 0 {
		return j + 1 + k + len(tag), true
	}
	return len(src), true
}

// skipNumber returns the index after a numeric literal starting at i:
// digits, a fraction, an exponent, 0x/0o/0b forms and underscores.
func skipNumber(src []byte, i int) int {
	for i < len(src) {
		c := src[i]
		switch {
		case isDigit(c) || c == '.' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			i++
			if (c == 'e' || c == 'E') && i < len(src) && (src[i] == '+' || src[i] == '-') {
				i++
			}
		default:
			return i
		}
	}
	return i
}

// maxTarget bounds a summary's target: a schema-qualified PostgreSQL
// name (63 bytes each part) with quotes.
const maxTarget = 2*65 + 1

// QueryTarget returns the first table a statement of kind names, as it
// is written (schema-qualified, quoted), or nil when it is not plain to
// see: SELECT and DELETE the name after the first FROM outside
// parentheses, INSERT after INTO, UPDATE after UPDATE, COPY after COPY
// (ONLY skipped); never a function (FROM unnest($1)) or a subquery. It
// reads sql without allocating.
func QueryTarget(sql []byte, kind string) []byte {
	var after string
	switch kind {
	case KindSelect, KindDelete:
		after = "FROM"
	case KindInsert:
		after = "INTO"
	case KindUpdate:
		after = "UPDATE"
	case KindCopy:
		after = "COPY"
	default:
		return nil
	}
	s := scanner{src: sql}
	for {
		w := s.word(false)
		if w == nil {
			return nil
		}
		if s.depth != 0 || !bytes.EqualFold(w, []byte(after)) {
			continue
		}
		t, end := nameAt(sql, s.i)
		if bytes.EqualFold(t, []byte("ONLY")) {
			t, end = nameAt(sql, end)
		}
		if t == nil || len(t) > maxTarget {
			return nil
		}
		// A name after FROM followed by ( is a function's (after INTO or
		// COPY, ( opens the column list: the table is still the name).
		if i := skipBlank(sql, end); after == "FROM" && i < len(sql) && sql[i] == '(' {
			return nil
		}
		return t
	}
}

// nameAt reads the (possibly schema-qualified, possibly quoted) name that
// starts at sql[i] after blanks and comments, and where it ends; nil when
// none does.
func nameAt(sql []byte, i int) (name []byte, end int) {
	i = skipBlank(sql, i)
	start := i
	for {
		switch {
		case i < len(sql) && sql[i] == '"':
			j := i + 1
			for j < len(sql) && sql[j] != '"' {
				j++
			}
			if j >= len(sql) {
				return nil, i
			}
			i = j + 1
		case i < len(sql) && isIdentStart(sql[i]):
			for i < len(sql) && isIdentPart(sql[i]) {
				i++
			}
		default:
			return nil, i
		}
		if i+1 < len(sql) && sql[i] == '.' && (sql[i+1] == '"' || isIdentStart(sql[i+1])) {
			i++
			continue
		}
		return sql[start:i], i
	}
}

// skipBlank skips white space and comments from sql[i].
func skipBlank(sql []byte, i int) int {
	for i < len(sql) {
		switch c := sql[i]; {
		case isSpace(c):
			i++
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			i = skipLineComment(sql, i)
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			i = skipBlockComment(sql, i)
		default:
			return i
		}
	}
	return i
}

// QuerySummary is db.query.summary of a statement of kind whose text is
// sql: "{operation} {target}" (QueryTarget), else the operation alone.
// It allocates when there is a target: callers keep it per statement.
func QuerySummary(sql []byte, kind string) string {
	if t := QueryTarget(sql, kind); t != nil {
		return kind + " " + string(t)
	}
	return kind
}
