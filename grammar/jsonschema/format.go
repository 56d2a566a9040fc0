package jsonschema

import (
	"fmt"
	"strings"
)

// This file holds grammars for the string formats JSON Schema names. Each
// is a GBNF expression, without rule references, for the text between the
// quotes; none of these formats has a character JSON must escape, so the
// text is the value itself.

// Dates (RFC 3339 full-date). Days are checked against the month's length;
// February 29 needs a leap year in the Gregorian rule: a year divisible by
// 4 and not by 100, or by 400.
const (
	gDay28   = `("0" [1-9] | "1" [0-9] | "2" [0-8])`
	gDay30   = `("0" [1-9] | [12] [0-9] | "30")`
	gDay31   = `("0" [1-9] | [12] [0-9] | "3" [01])`
	gLeap    = `([0-9]{2} ("0" [48] | [2468] [048] | [13579] [26]) | ([02468] [048] | [13579] [26]) "00")`
	gFullDay = `[0-9]{4} "-" (("0" [13578] | "1" [02]) "-" ` + gDay31 +
		` | ("0" [469] | "11") "-" ` + gDay30 +
		` | "02-" ` + gDay28 + `) | ` + gLeap + ` "-02-29"`
)

// Times (RFC 3339 full-time, with the offset JSON Schema requires). A leap
// second, second 60, is 23:59:60 in UTC: it is allowed at the local time
// that is 23:59 UTC under its offset, for offsets in whole quarter hours
// (leapSeconds lists them; other offsets get no leap second).
const (
	gHour    = `([01] [0-9] | "2" [0-3])`
	gMinute  = `[0-5] [0-9]`
	gFrac    = `("." [0-9]{1,9})?`
	gHex     = `[0-9a-fA-F]`
	gDecByte = `("25" [0-5] | "2" [0-4] [0-9] | "1" [0-9]{2} | [1-9]? [0-9])`
	gIPv4    = gDecByte + ` "." ` + gDecByte + ` "." ` + gDecByte + ` "." ` + gDecByte
)

// URIs (RFC 3986). An IPv4 address is also a reg-name, so host needs no
// IPv4 branch of its own.
const (
	gPct       = `"%" ` + gHex + `{2}`
	gPChar     = `([A-Za-z0-9\-._~!$&'()*+,;=:@] | ` + gPct + `)`
	gSegment   = gPChar + `{0,64}`
	gSegmentNZ = gPChar + `{1,64}`
	gIPFuture  = `"v" ` + gHex + `{1,4} "." [A-Za-z0-9\-._~!$&'()*+,;=:]{1,64}`
	gRegName   = `([A-Za-z0-9\-._~!$&'()*+,;=] | ` + gPct + `){0,253}`
	gUserInfo  = `([A-Za-z0-9\-._~!$&'()*+,;=:] | ` + gPct + `){0,64}`
	gQuery     = `([A-Za-z0-9\-._~!$&'()*+,;=:@/?] | ` + gPct + `){0,256}`
)

// Email: a practical subset of RFC 5321: a dot-atom local part, then a
// domain of dot-separated labels, or an address literal [1.2.3.4] or
// [IPv6:…]. Quoted local parts are left out.
const (
	gAtextC = `[A-Za-z0-9!#$%&'*+/=?\^_` + "`" + `{|}~\-]`
	// At most 63 characters, dots only between atoms (RFC 5321: 64).
	gLocal = gAtextC + ` (` + gAtextC + ` | "." ` + gAtextC + `){0,31}`
	gLabel = `[A-Za-z0-9] ([A-Za-z0-9\-]{0,34} [A-Za-z0-9])?`
	// At most five labels of up to 36 characters: with the local part the
	// address stays within RFC 5321's 254.
	gDomain = gLabel + ` ("." ` + gLabel + `){0,4}`
)

var (
	gIPv6  = ipv6Expr()
	gURI   = `[A-Za-z] [A-Za-z0-9+\-.]{0,31} ":" ("//" (` + gUserInfo + ` "@")? ("[" (` + gIPv6 + ` | ` + gIPFuture + `) "]" | ` + gRegName + `) (":" [0-9]{0,5})? ("/" ` + gSegment + `){0,16} | "/" (` + gSegmentNZ + ` ("/" ` + gSegment + `){0,16})? | ` + gSegmentNZ + ` ("/" ` + gSegment + `){0,16})? ("?" ` + gQuery + `)? ("#" ` + gQuery + `)?`
	gEmail = gLocal + ` "@" (` + gDomain + ` | "[" ` + gIPv4 + ` "]" | "[IPv6:" (` + gIPv6 + `) "]")`

	formatExprs = map[string]string{
		"date":      gFullDay,
		"time":      gTime,
		"date-time": "(" + gFullDay + `) [Tt] ` + gTime,
		"uuid":      gHex + `{8} "-" ` + gHex + `{4} "-" ` + gHex + `{4} "-" ` + gHex + `{4} "-" ` + gHex + `{12}`,
		"email":     gEmail,
		"ipv4":      gIPv4,
		"ipv6":      gIPv6,
		"uri":       gURI,
	}
)

// ipv6Expr spells out RFC 4291's text forms: eight groups of one to four
// hex digits, the last two of which may be an IPv4 address, or fewer
// groups with "::" standing for one or more zero groups — at most seven
// groups written around it. The expression walks the groups left to
// right, so that at each point the count written so far is known.
// leapSeconds is every local time of a leap second with its offset:
// 23:59:60 with Z or ±00:00, and for each offset of whole quarter hours the
// local time that is then 23:59 UTC.
var gTime = `(` + gHour + ` ":" ` + gMinute + ` ":" [0-5] [0-9] ` + gFrac + ` ([Zz] | [+\-] ` + gHour + ` ":" ` + gMinute + `) | ` + leapSeconds + `)`

var leapSeconds = func() string {
	alts := []string{`"23:59:60" ` + gFrac + ` ([Zz] | [+\-] "00:00")`}
	for _, sign := range []int{1, -1} {
		for h := 0; h < 24; h++ {
			for _, m := range []int{0, 15, 30, 45} {
				off := sign * (h*60 + m)
				if off == 0 {
					continue
				}
				local := ((23*60+59+off)%1440 + 1440) % 1440
				sc := "+"
				if sign < 0 {
					sc = "-"
				}
				alts = append(alts, fmt.Sprintf(`"%02d:%02d:60" %s "%s%02d:%02d"`, local/60, local%60, gFrac, sc, h, m))
			}
		}
	}
	return strings.Join(alts, " | ")
}()

func ipv6Expr() string {
	h16 := gHex + `{1,4}`
	// tail(n): one to n groups after "::", the last two of which may be
	// written as an IPv4 address.
	var tail func(n int) string
	tail = func(n int) string {
		if n == 0 {
			return ""
		}
		var alts []string
		if n >= 2 {
			alts = append(alts, gIPv4)
		}
		if n == 1 {
			alts = append(alts, h16)
		} else {
			alts = append(alts, h16+` (":" (`+tail(n-1)+`))?`)
		}
		return strings.Join(alts, " | ")
	}
	// after(k): the rest once k groups and no "::" have been written.
	var after func(k int) string
	after = func(k int) string {
		alts := []string{`"::" (` + tail(7-k) + `)?`}
		if k == 7 {
			alts[0] = `"::"`
		}
		if k == 6 {
			alts = append(alts, `":" `+gIPv4)
		}
		if k == 7 {
			alts = append(alts, `":" `+h16)
		} else {
			alts = append(alts, `":" `+h16+` (`+after(k+1)+`)`)
		}
		return strings.Join(alts, " | ")
	}
	return `"::" (` + tail(7) + `)? | ` + h16 + ` (` + after(1) + `)`
}

// formatGBNF returns a GBNF expression, without rule references, for the
// text between the quotes of strings in the given format: date, time,
// date-time (RFC 3339; the letters T and Z in either case), uuid, email
// (the subset described above), ipv4 (no leading zeros), ipv6 (RFC 4291)
// or uri (RFC 3986 URI: a scheme, then the hierarchical part, query and
// fragment; no spaces; %-escapes).
func formatGBNF(format string) (string, error) {
	if g, ok := formatExprs[format]; ok {
		return g, nil
	}
	return "", fmt.Errorf("format %q is not supported", format)
}
