package jsonschema

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tdata "github.com/ondo-ai/ondo/internal/testdata"
)

func mustFormat(tb testing.TB, format string) (string, func(string) bool) {
	tb.Helper()
	expr, err := formatGBNF(format)
	if err != nil {
		tb.Fatalf("formatGBNF(%q): %v", format, err)
	}
	g := stringGrammar(tb, expr)
	return expr, func(v string) bool { return matchValue(g, v) }
}

// TestFormatSuite runs the JSON-Schema-Test-Suite's format tests: every
// string must match exactly when the suite calls it valid.
func TestFormatSuite(t *testing.T) {
	dir := tdata.Dir(t)
	n := 0
	for _, format := range []string{"date", "time", "date-time", "email", "ipv4", "ipv6", "uri"} {
		raw, err := os.ReadFile(filepath.Join(dir, "jsonschema", "draft7", "optional", "format", format+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var groups []struct {
			Tests []struct {
				Description string
				Data        any
				Valid       bool
			}
		}
		if err := json.Unmarshal(raw, &groups); err != nil {
			t.Fatalf("%s.json: %v", format, err)
		}
		_, match := mustFormat(t, format)
		for _, g := range groups {
			for _, c := range g.Tests {
				s, ok := c.Data.(string)
				if !ok {
					continue
				}
				n++
				if got := match(s); got != c.Valid {
					t.Errorf("format %s, %s: %q matches %v, want %v", format, c.Description, s, got, c.Valid)
				}
			}
		}
	}
	t.Logf("%d suite strings", n)
}

func TestFormats(t *testing.T) {
	for _, c := range []struct {
		format  string
		yes, no []string
	}{
		{"date",
			[]string{"1963-06-19", "2020-02-29", "2000-02-29", "0000-02-29", "2024-12-31", "1900-02-28", "2023-04-30", "2023-01-31", "9999-11-30"},
			[]string{"2021-02-29", "1900-02-29", "2100-02-29", "2023-02-30", "2023-04-31", "2023-06-31", "2023-09-31", "2023-11-31", "2023-13-01", "2023-00-10",
				"2023-01-32", "2023-01-00", "2023-1-01", "20230101", "06/19/1963", "2013-350", "2023-01-01T", " 2023-01-01", "１９６３-06-19"}},
		{"time",
			[]string{"08:30:06.283185Z", "23:59:60Z", "00:00:00+00:00", "12:34:56.789-05:30", "08:30:06z", "23:59:59+23:59", "00:00:00.0-00:00"},
			[]string{"24:00:00Z", "12:60:00Z", "12:00:61Z", "12:00:00", "12:00:00+24:00", "12:00:00+01:60", "12:00:00.Z", "1:00:00Z", "08:30:06 PST",
				"01:01:01,1111", "12:00Z", "12:00:00+0100", "12:00:00 Z"}},
		{"date-time",
			[]string{"1990-12-31T23:59:60Z", "2020-02-29t00:00:00+01:00", "1963-06-19T08:30:06.283185Z", "1937-01-01T12:00:27.87+00:20"},
			[]string{"2021-02-29T00:00:00Z", "1990-12-31 23:59:59Z", "1990-12-31T23:59:59", "1990-02-31T15:59:59Z", "1990-12-31T15:59:59-24:00", "2013-350T01:01:01"}},
		{"uuid",
			[]string{"2eb8aa08-aa98-11ea-b4aa-73b441d16380", "2EB8AA08-AA98-11EA-B4AA-73B441D16380", "00000000-0000-0000-0000-000000000000"},
			[]string{"2eb8aa08aa9811eab4aa73b441d16380", "2eb8aa08-aa98-11ea-b4aa-73b441d1638", "2eb8aa08-aa98-11ea-b4aa-73b441d163800", "2eb8aa0-8aa98-11ea-b4aa-73b441d16380",
				"2eb8aa08-aa98-11ea-b4aa-73b441d1638g", "{2eb8aa08-aa98-11ea-b4aa-73b441d16380}", ""}},
		{"email",
			[]string{"joe.bloggs@example.com", "a@b", "te~st@example.com", "~test@example.com", "test~@example.com", "te.s.t@example.com", "x+tag@sub.example.co.uk",
				"joe.bloggs@[127.0.0.1]", "joe.bloggs@[IPv6:::1]", "o'hara@a-b.example", "{x}|#!$%&*/=?^_`@x"},
			[]string{".test@example.com", "test.@example.com", "te..st@example.com", "2962", "joe.bloggs@invalid=domain.com", "joe.bloggs@[127.0.0.300]", "a@-b.com",
				"a@b-.com", "a b@c.com", "@example.com", "a@", "a@b..c", "a@@b", `"joe bloggs"@example.com`}},
		{"ipv4",
			[]string{"0.0.0.0", "255.255.255.255", "1.2.3.4", "192.168.0.1", "10.0.100.249"},
			[]string{"256.1.1.1", "01.1.1.1", "1.1.1", "1.1.1.1.1", "1.1.1.01", "a.b.c.d", " 1.1.1.1", "1.1.1.1 ", "0x7f000001", "1..1.1", "300.0.0.0", "1.2.3.4\n", "१.2.3.4"}},
		{"ipv6",
			[]string{"::", "::1", "1::", "1:2:3:4:5:6:7:8", "1::8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6::8", "::ffff:192.168.0.1",
				"1:2:3:4:5:6:1.2.3.4", "1::1.2.3.4", "::1.2.3.4", "ABCD:ef01::1", "fe80::1", "1:2:3:4:5::1.2.3.4", "0001:0002:0003:0004:0005:0006:0007:0008"},
			[]string{"1:2:3:4:5:6:7:8:9", "1::2:3:4:5:6:7:8", "1:2:3:4:5:6:7", ":1::", "1:::2", "1::2::3", "12345::", "::laptop", "1:2:3:4:5:6:7:1.2.3.4",
				"1:2:3:4:5:6:1.2.3.4:1", "::256.1.1.1", "fe80::1%eth0", "1:2:3:4:5:6:7::8", "::1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8::", ":", "", "1:", ":1",
				"00001::", "::1.2.3", "::01.2.3.4", "1:2:3:4:5:6:7:8:", "[::1]", " ::1"}},
		{"uri",
			[]string{"http://example.com", "urn:isbn:0451450523", "a:", "a:b", "foo+bar-baz.qux:x", "http://[::1]:80/", "http://[v7.abc]/", "file:///etc/passwd",
				"http://a/b?c#d", "mailto:x@y", "http://user:pw@host:8080/p/a/t/h?query=1#frag", "http://host:/", "x:/a//b", "x:?q", "x:#f", "HTTP://EXAMPLE.COM/%7E"},
			[]string{"1http://x", "http://x y", "http://x/%zz", "http://x/%2", "", ":a", "http://[::1/", "http://x#a#b", `http://a\b`, "http://a^b", "http://[::1]x/",
				"http://h:8a/", "//foo.bar/?baz=qux#quux", "/abc", "abc", "http://[1:2]/", "http://x/<>", "http://é.com/", "+a:b"}},
	} {
		expr, match := mustFormat(t, c.format)
		for _, v := range c.yes {
			if !match(v) {
				t.Errorf("format %s: %q does not match", c.format, v)
			}
		}
		for _, v := range c.no {
			if match(v) {
				t.Errorf("format %s: %q matches", c.format, v)
			}
		}
		t.Logf("format %s: %d bytes", c.format, len(expr))
	}
}

// TestIPv6MatchesNetip compares the ipv6 grammar with net/netip on random
// addresses written in many forms, and on damaged copies of them.
func TestIPv6MatchesNetip(t *testing.T) {
	_, match := mustFormat(t, "ipv6")
	rnd := rand.New(rand.NewPCG(7, 8))
	n := 0
	check := func(s string) {
		n++
		a, err := netip.ParseAddr(s)
		want := err == nil && a.Is6() && a.Zone() == ""
		if got := match(s); got != want {
			t.Errorf("ipv6 %q: grammar says %v, netip says %v (%v)", s, got, want, err)
		}
	}
	for range 3000 {
		var groups [8]uint16
		for i := range groups {
			switch rnd.IntN(3) {
			case 0:
				groups[i] = 0
			case 1:
				groups[i] = uint16(rnd.IntN(16))
			default:
				groups[i] = uint16(rnd.Uint32())
			}
		}
		parts := make([]string, 8)
		for i, g := range groups {
			f := "%x"
			switch rnd.IntN(4) {
			case 0:
				f = "%04x"
			case 1:
				f = "%X"
			}
			parts[i] = fmt.Sprintf(f, g)
		}
		var s string
		switch rnd.IntN(3) {
		case 0: // full
			s = strings.Join(parts, ":")
		case 1: // :: for a run of groups: several, one, or none (invalid)
			i := rnd.IntN(9)
			j := i + rnd.IntN(9-i)
			s = strings.Join(parts[:i], ":") + "::" + strings.Join(parts[j:], ":")
		default: // an IPv4 address in the last two groups
			v4 := fmt.Sprintf("%d.%d.%d.%d", groups[6]>>8, groups[6]&255, groups[7]>>8, groups[7]&255)
			i := rnd.IntN(7)
			j := i + rnd.IntN(7-i)
			if rnd.IntN(2) == 0 {
				s = strings.Join(parts[:6], ":") + ":" + v4
			} else {
				s = strings.Join(parts[:i], ":") + "::" + strings.Join(append(parts[j:6:6], v4), ":")
			}
		}
		check(s)
		b := []byte(s)
		i := rnd.IntN(len(b))
		switch rnd.IntN(4) {
		case 0:
			b = append(b[:i], b[i+1:]...)
		case 1:
			b[i] = ":.0fg1"[rnd.IntN(6)]
		case 2:
			b = append(b[:i], append([]byte{":.0f"[rnd.IntN(4)]}, b[i:]...)...)
		default:
			b = append(b, ":1"[rnd.IntN(2)])
		}
		check(string(b))
	}
	t.Logf("%d addresses compared with net/netip", n)
}

func TestFormatUnknown(t *testing.T) {
	for _, f := range []string{"hostname", "regex", "iri", "Date", ""} {
		_, err := formatGBNF(f)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", f)) {
			t.Errorf("formatGBNF(%q): error %v, want one naming the format", f, err)
		}
	}
}

func BenchmarkFormatGrammars(b *testing.B) {
	for b.Loop() {
		for _, f := range []string{"date-time", "ipv6", "uri", "email"} {
			expr, _ := formatGBNF(f)
			stringGrammar(b, expr)
		}
	}
}
