package sample

import (
	"strings"
	"unicode/utf8"
)

// StopMatcher finds stop strings in streamed text. Feed it the decoded text of each token; it
// returns the part that is safe to show now and holds back any tail that could still become a
// stop string, as well as a trailing incomplete UTF-8 sequence. Once a stop string is complete,
// it reports the stop and never releases the stop string or anything after it.
//
// The outcome does not depend on how the text is cut into chunks: when several stop strings
// occur, the one that is complete first (ends earliest, the longest among those ending at the
// same byte) wins, exactly as if the text had arrived one byte at a time.
//
// The zero StopMatcher has no stop strings and holds back only incomplete UTF-8. A StopMatcher
// is not safe for concurrent use.
type StopMatcher struct {
	stops   []string
	held    string
	stopped bool
	matched string
}

// NewStopMatcher returns a matcher for the given stop strings; empty strings are ignored.
func NewStopMatcher(stops ...string) *StopMatcher {
	m := &StopMatcher{}
	for _, s := range stops {
		if s != "" {
			m.stops = append(m.stops, s)
		}
	}
	return m
}

// Feed adds a chunk of text. It returns the text that may be shown now, and whether a stop
// string has been completed (in this chunk or before); after a stop, Feed returns "" and true.
func (m *StopMatcher) Feed(chunk string) (out string, stop bool) {
	if m.stopped {
		return "", true
	}
	buf := m.held + chunk

	// The stop string that completes first: least end, then least start.
	at, end := -1, -1
	for _, s := range m.stops {
		i := strings.Index(buf, s)
		if i < 0 {
			continue
		}
		if e := i + len(s); end < 0 || e < end || (e == end && i < at) {
			at, end, m.matched = i, e, s
		}
	}
	if at >= 0 {
		m.stopped = true
		m.held = ""
		return buf[:at], true
	}

	// Hold back the longest tail that is a proper prefix of a stop string. Text before it can
	// never be part of a stop string: one starting there would have to match all of the tail.
	hold := 0
	for _, s := range m.stops {
		for k := min(len(s)-1, len(buf)); k > hold; k-- {
			if strings.HasSuffix(buf, s[:k]) {
				hold = k
				break
			}
		}
	}
	cut := len(buf) - hold
	cut -= incompleteTail(buf[:cut])
	m.held = buf[cut:]
	return buf[:cut], false
}

// incompleteTail returns the length of an unfinished multi-byte UTF-8 sequence at the end of s,
// or 0. Invalid bytes are not held: they would never complete.
func incompleteTail(s string) int {
	for j := len(s) - 1; j >= 0 && j >= len(s)-utf8.UTFMax; j-- {
		b := s[j]
		if b < 0x80 {
			return 0 // ASCII: complete
		}
		if b >= 0xC0 { // a leading byte
			if utf8.FullRuneInString(s[j:]) {
				return 0
			}
			return len(s) - j
		}
		// a continuation byte: keep looking for its leading byte
	}
	return 0
}

// Flush ends the stream: it returns the text still held back (empty after a stop) and clears
// it.
func (m *StopMatcher) Flush() string {
	out := m.held
	m.held = ""
	return out
}

// Stopped reports whether a stop string has been completed.
func (m *StopMatcher) Stopped() bool { return m.stopped }

// Matched returns the stop string that ended the text, or "" if none has.
func (m *StopMatcher) Matched() string {
	if !m.stopped {
		return ""
	}
	return m.matched
}

// Reset forgets the held text and any stop, keeping the stop strings.
func (m *StopMatcher) Reset() {
	m.held = ""
	m.stopped = false
	m.matched = ""
}
