package chat

import (
	"strconv"
	"strings"
	"time"
)

// strftime formats t like Python's datetime.strftime on Linux (glibc, C
// locale) for the naive local time transformers' strftime_now uses: %z and
// %Z are empty, %f is microseconds, the glibc flags -, _, 0 and ^ are
// understood ("%-d" is "5"), and unknown directives are copied as they are.
func strftime(format string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 >= len(format) {
			b.WriteByte(c)
			continue
		}
		start := i
		i++
		flag := byte(0)
		if strings.IndexByte("-_0^#", format[i]) >= 0 && i+1 < len(format) {
			flag = format[i]
			i++
		}
		s, ok := strftimeField(format[i], flag, t)
		if !ok {
			b.WriteString(format[start : i+1])
			continue
		}
		b.WriteString(s)
	}
	return b.String()
}

// strftimeField expands one directive.
func strftimeField(d, flag byte, t time.Time) (string, bool) {
	num := func(n, width int, pad byte) string {
		switch flag {
		case '-':
			return strconv.Itoa(n)
		case '_':
			pad = ' '
		case '0':
			pad = '0'
		}
		s := strconv.Itoa(n)
		for len(s) < width {
			s = string(pad) + s
		}
		return s
	}
	text := func(s string) string {
		if flag == '^' {
			return strings.ToUpper(s)
		}
		return s
	}
	hour12 := t.Hour() % 12
	if hour12 == 0 {
		hour12 = 12
	}
	yday := t.YearDay() - 1
	wday := int(t.Weekday())
	isoYear, isoWeek := t.ISOWeek()
	switch d {
	case 'a':
		return text(t.Format("Mon")), true
	case 'A':
		return text(t.Format("Monday")), true
	case 'b', 'h':
		return text(t.Format("Jan")), true
	case 'B':
		return text(t.Format("January")), true
	case 'c':
		return text(t.Format("Mon Jan _2 15:04:05 2006")), true
	case 'C':
		return num(t.Year()/100, 2, '0'), true
	case 'd':
		return num(t.Day(), 2, '0'), true
	case 'D':
		return t.Format("01/02/06"), true
	case 'e':
		return num(t.Day(), 2, ' '), true
	case 'f':
		return num(t.Nanosecond()/1000, 6, '0'), true
	case 'F':
		return t.Format("2006-01-02"), true
	case 'g':
		return num(isoYear%100, 2, '0'), true
	case 'G':
		return num(isoYear, 1, '0'), true
	case 'H':
		return num(t.Hour(), 2, '0'), true
	case 'I':
		return num(hour12, 2, '0'), true
	case 'j':
		return num(yday+1, 3, '0'), true
	case 'k':
		return num(t.Hour(), 2, ' '), true
	case 'l':
		return num(hour12, 2, ' '), true
	case 'm':
		return num(int(t.Month()), 2, '0'), true
	case 'M':
		return num(t.Minute(), 2, '0'), true
	case 'n':
		return "\n", true
	case 'p':
		if flag == '#' {
			return strings.ToLower(t.Format("PM")), true
		}
		return t.Format("PM"), true
	case 'P':
		return strings.ToLower(t.Format("PM")), true
	case 'r':
		return t.Format("03:04:05 PM"), true
	case 'R':
		return t.Format("15:04"), true
	case 's':
		wall := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.Local)
		return strconv.FormatInt(wall.Unix(), 10), true
	case 'S':
		return num(t.Second(), 2, '0'), true
	case 't':
		return "\t", true
	case 'T':
		return t.Format("15:04:05"), true
	case 'u':
		return num((wday+6)%7+1, 1, '0'), true
	case 'U':
		return num((yday+7-wday)/7, 2, '0'), true
	case 'V':
		return num(isoWeek, 2, '0'), true
	case 'w':
		return num(wday, 1, '0'), true
	case 'W':
		return num((yday+7-(wday+6)%7)/7, 2, '0'), true
	case 'x':
		return t.Format("01/02/06"), true
	case 'X':
		return t.Format("15:04:05"), true
	case 'y':
		return num(t.Year()%100, 2, '0'), true
	case 'Y':
		return num(t.Year(), 1, '0'), true
	case 'z', 'Z':
		return "", true // naive datetime: no zone
	case '%':
		return "%", true
	}
	return "", false
}
