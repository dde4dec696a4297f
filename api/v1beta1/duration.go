package v1beta1

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// flaggerUnits are the spelled-out units Flagger's schema lets through in a
// metric interval: its pattern, ^[0-9]+(m|s), checks only the start of the
// value, so "1min" and "30sec" pass it.
var flaggerUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
}

// ParseMetricInterval parses a metric's interval: a Go duration ("1m",
// "90s", "1m30s") or a whole number with a spelled-out unit that Flagger's
// schema accepts ("1min", "30sec", "2hours"). The second form is reported
// by CanaryWarnings, since Prometheus reads only the first.
func ParseMetricInterval(s string) (d time.Duration, spelled bool, err error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, false, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i > 0 {
		if unit, ok := flaggerUnits[strings.ToLower(s[i:])]; ok {
			n, err := strconv.ParseInt(s[:i], 10, 32)
			if err == nil {
				return time.Duration(n) * unit, true, nil
			}
		}
	}
	return 0, false, fmt.Errorf("%q is not a duration", s)
}

// FormatInterval writes d the way Prometheus and Go both read it: "2h",
// "5m", "90s" (whole seconds; anything shorter is rounded up to 1s).
func FormatInterval(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return strconv.FormatInt(max(int64((d+time.Second-1)/time.Second), 1), 10) + "s"
	}
}
