package pgproxy

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// sqlTokens are the pieces FuzzNormalizeLiteralInContext builds the SQL
// around a planted literal from: keywords, identifiers, operators,
// parameters, literals, comments. Each is complete (no open quote or
// comment), so a literal after it begins a literal.
var sqlTokens = []string{
	"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "IS", "NULL", "INSERT", "INTO", "VALUES",
	"UPDATE", "SET", "TO", "DELETE", "WITH", "AS", "ALTER", "ROLE", "SYSTEM", "LOCAL", "ORDER", "BY", "LIMIT",
	"RETURNING", "ARRAY", "CAST", "INTERVAL", "DATE", "TIME", "ZONE",
	"t", "orders", "o.id", "app.api_key", `"Order Items"`, `"we""ird"`, "E", "U&", "x", "_tmp$1", "café",
	"(", ")", ",", ";", "=", "<>", "<=", "+", "-", "*", "/", "::", "::text", ".", "[", "]", ":", "||", "@>", "->>", "&",
	"$1", "$2", "1", "3.14", "1e-5", ".5", "0x1F", "1_000",
	"'other'", "'it''s'", `E'a\'b'`, "$$body$$", "$tag$ x $tag$", "B'101'", "X'1F'", "N'nat'", `U&'d\0061t'`,
	"-- comment\n", "/* c */", "/* nested /* x */ */",
}

// sqlFrom builds SQL from token selectors, one token a byte.
func sqlFrom(sel []byte) string {
	parts := make([]string, 0, len(sel))
	for _, b := range sel {
		parts = append(parts, sqlTokens[int(b)%len(sqlTokens)])
	}
	return strings.Join(parts, " ")
}

// tightBefore and tightAfter are the tokens a client may write a literal
// right after or before, without a space: x='…', (1,2), '…'::text.
var (
	tightBefore = map[string]bool{"(": true, ",": true, "=": true, "<>": true, "<=": true, "+": true, "*": true, "/": true,
		"[": true, "||": true, "@>": true, "->>": true, "::": true, ":": true}
	tightAfter = map[string]bool{")": true, ",": true, ";": true, "]": true, "||": true, "::": true, "::text": true,
		"=": true, "<>": true, "<=": true, "+": true, "*": true, "/": true, ":": true}
)

// marker starts every planted string: it must never reach the output.
const marker = "secret-xyz"

// plant writes secret as a literal of the given form, as a client library
// quotes it; the SQL it goes in, when not prefix+literal+suffix, and the
// stand-in the literal is compared with.
func plant(form uint8, secret string, digits uint64, standard bool) (literal, standIn, hidden string, wrapped bool) {
	quote := func(s string, backslash bool) string {
		if backslash {
			s = strings.ReplaceAll(s, `\`, `\\`)
		}
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	s := marker + secret
	n := "98765" + strconv.FormatUint(digits, 10)
	switch form % 12 {
	case 0:
		return quote(s, !standard), "1", marker, false
	case 1:
		return "E" + quote(s, true), "1", marker, false
	case 2:
		// A tag whose first occurrence after the opening one is the end.
		tag := "$q$"
		for i := 0; strings.Index(s+tag, tag) != len(s); i++ {
			tag = "$q" + strconv.Itoa(i) + "$"
		}
		return tag + s + tag, "1", marker, false
	case 3:
		return "U&" + quote(s, true), "1", marker, false
	case 4:
		return "X" + quote(s, !standard), "1", marker, false
	case 5:
		return n, "1", "98765", false
	case 6:
		return n[:5] + "." + n[5:], "1", "98765", false
	case 7:
		return n + "e-" + strconv.Itoa(int(digits%40)), "1", "98765", false
	case 8:
		return "0x" + strings.ToUpper(strconv.FormatUint(digits|0x98765<<40, 16)), "1", "98765", false
	case 9:
		return n[:2] + "_" + n[2:5] + "_" + n[5:], "1", "765", false
	case 10: // SET app.api_key TO <word>: a value even unquoted
		w := []byte("sk_" + strings.ReplaceAll(marker, "-", "_"))
		for i := 0; i < len(secret); i++ {
			if isIdentPart(secret[i]) {
				w = append(w, secret[i])
			}
		}
		return string(w), "1", "secret_xyz", true
	default: // SET app.api_key TO "<quoted identifier>"
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`, "1", marker, true
	}
}

// FuzzNormalizeLiteralInContext: a string or numeric literal planted
// anywhere in a statement built from SQL tokens — '…' (backslashes doubled
// too with standard_conforming_strings off), E'…', $tag$…$tag$, U&'…',
// X'…', integers, decimals, exponents, 0x…, 1_000 — or a SET value, bare
// word or quoted, whatever text it holds, never reaches the normalised
// output: the output is exactly that of the statement with the literal
// replaced by 1, so no byte of it is kept and nothing around it is lost
// or swallowed — with spaces around the literal, or without where a
// client may leave them out (x='…', (1,'…')). Seeds: f.Add below and
// testdata/fuzz/FuzzNormalizeLiteralInContext.
func FuzzNormalizeLiteralInContext(f *testing.F) {
	idx := func(toks ...string) []byte {
		var b []byte
		for _, t := range toks {
			for i, s := range sqlTokens {
				if s == t {
					b = append(b, byte(i))
				}
			}
		}
		return b
	}
	f.Add(idx("SELECT", "*", "FROM", "t", "WHERE", "x", "="), idx("AND", "x", "<>", "1"), "s3cret", uint8(0), uint64(42), true, true)
	f.Add(idx("SELECT", "E"), idx(",", "x"), `back\slash'`, uint8(0), uint64(0), false, true)
	f.Add(idx("INSERT", "INTO", "t", "VALUES", "(", "$1", ","), idx(")", "RETURNING", "o.id"), "$q$", uint8(2), uint64(7), true, true)
	f.Add(idx("SET", "app.api_key", "TO"), idx(";", "SELECT", "x"), "tok_en", uint8(10), uint64(1), true, true)
	f.Add(idx("SELECT", "/* c */", "'other'", "||"), idx("-- comment\n", "FROM", "t"), "*/ 1 --", uint8(1), uint64(123), true, true)
	f.Add(idx("SELECT", "CAST", "("), idx("AS", "INTERVAL", ")"), "", uint8(6), uint64(314159), true, true)
	f.Add(idx("SELECT", "x", "::", "t", "->>"), idx("LIMIT", "1_000"), "é\x00\xff", uint8(3), uint64(0xdead), false, true)
	f.Add([]byte{}, []byte{}, `"q"`, uint8(11), uint64(9), true, true)
	f.Fuzz(func(t *testing.T, prefixSel, suffixSel []byte, secret string, form uint8, digits uint64, standard, tight bool) {
		if len(prefixSel) > 64 || len(suffixSel) > 64 {
			return
		}
		prefix, suffix := sqlFrom(prefixSel), sqlFrom(suffixSel)
		literal, standIn, hidden, wrapped := plant(form, secret, digits, standard)
		before, after := " ", " "
		if tight && !wrapped {
			if len(prefixSel) > 0 && tightBefore[sqlTokens[int(prefixSel[len(prefixSel)-1])%len(sqlTokens)]] {
				before = ""
			}
			if len(suffixSel) > 0 && tightAfter[sqlTokens[int(suffixSel[0])%len(sqlTokens)]] {
				after = ""
			}
		}
		build := func(lit string) string {
			if wrapped {
				lit = "; SET app.api_key TO " + lit + " ;"
			}
			return prefix + before + lit + after + suffix
		}
		sql := build(literal)
		got := NormalizeSession(nil, []byte(sql), standard)
		if bytes.Contains(got, []byte(hidden)) {
			t.Fatalf("NormalizeSession(%q, standard %v) = %q: the literal's %q is in it", sql, standard, got, hidden)
		}
		if want := NormalizeSession(nil, []byte(build(standIn)), standard); !bytes.Equal(got, want) {
			t.Fatalf("NormalizeSession(%q, standard %v)\n = %q\nwith %s for the literal:\n   %q", sql, standard, got, standIn, want)
		}
	})
}
