package hsm

import (
	"fmt"
	"strconv"
	"time"
)

// Duration is an ISO 8601 duration as rotation policies use them ("P90D",
// "P3M", "PT48H", "P1Y10D", "P2W"). Years and months are calendar units, so
// a Duration is applied to a time rather than converted to a fixed length.
type Duration struct {
	Years, Months, Weeks, Days int
	Hours, Minutes, Seconds    int
	text                       string
}

// ParseDuration parses the ISO 8601 duration subset Key Vault accepts:
// PnYnMnWnDTnHnMnS with non-negative integer components.
func ParseDuration(s string) (Duration, error) {
	d := Duration{text: s}
	if len(s) < 2 || s[0] != 'P' {
		return d, fmt.Errorf("%q is not an ISO 8601 duration", s)
	}
	inTime, any := false, false
	num := ""
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			num += string(c)
			continue
		case c == 'T':
			if inTime || num != "" {
				return d, fmt.Errorf("%q is not an ISO 8601 duration", s)
			}
			inTime = true
			continue
		}
		if num == "" || len(num) > 6 {
			return d, fmt.Errorf("%q is not an ISO 8601 duration", s)
		}
		n, _ := strconv.Atoi(num)
		num = ""
		any = true
		var field *int
		switch {
		case !inTime && c == 'Y':
			field = &d.Years
		case !inTime && c == 'M':
			field = &d.Months
		case !inTime && c == 'W':
			field = &d.Weeks
		case !inTime && c == 'D':
			field = &d.Days
		case inTime && c == 'H':
			field = &d.Hours
		case inTime && c == 'M':
			field = &d.Minutes
		case inTime && c == 'S':
			field = &d.Seconds
		default:
			return d, fmt.Errorf("%q is not an ISO 8601 duration", s)
		}
		if *field != 0 {
			return d, fmt.Errorf("%q repeats a component", s)
		}
		*field = n
	}
	if num != "" || !any {
		return d, fmt.Errorf("%q is not an ISO 8601 duration", s)
	}
	return d, nil
}

// String returns the duration as it was given.
func (d Duration) String() string { return d.text }

// AddTo returns t plus d.
func (d Duration) AddTo(t time.Time) time.Time {
	t = t.AddDate(d.Years, d.Months, d.Weeks*7+d.Days)
	return t.Add(time.Duration(d.Hours)*time.Hour + time.Duration(d.Minutes)*time.Minute + time.Duration(d.Seconds)*time.Second)
}

// SubFrom returns t minus d.
func (d Duration) SubFrom(t time.Time) time.Time {
	t = t.AddDate(-d.Years, -d.Months, -(d.Weeks*7 + d.Days))
	return t.Add(-(time.Duration(d.Hours)*time.Hour + time.Duration(d.Minutes)*time.Minute + time.Duration(d.Seconds)*time.Second))
}

// atLeast reports whether d is at least days long when applied to t.
func (d Duration) atLeast(t time.Time, days int) bool {
	return !d.AddTo(t).Before(t.AddDate(0, 0, days))
}
