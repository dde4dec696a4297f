package judge

import (
	"fmt"
	"math"
	"strconv"

	"github.com/serinhq/serin/api/v1beta1"
)

// The built-in metric names.
const (
	RequestSuccessRate = "request-success-rate"
	RequestDuration    = "request-duration"
)

// Threshold is Flagger's judge: the canary's value passes when it lies
// within the metric's thresholdRange. Unlike Flagger, a metric without data
// (no traffic yet) is a Wait, not a failed check, and so is a failed query;
// both say why in the reason.
type Threshold struct{}

var _ Judge = Threshold{}

// Bounds returns the limits a metric must stay within. The deprecated
// threshold field means what it means in Flagger: the minimum of
// request-success-rate and the maximum of every other metric;
// thresholdRange wins where both are set.
func Bounds(m v1beta1.CanaryMetric) (lo, hi *float64) {
	if m.ThresholdRange != nil {
		lo, hi = m.ThresholdRange.Min, m.ThresholdRange.Max
	}
	if m.Threshold != 0 && lo == nil && hi == nil {
		t := m.Threshold
		if m.Name == RequestSuccessRate {
			lo = &t
		} else {
			hi = &t
		}
	}
	return lo, hi
}

// Judge implements Judge.
func (Threshold) Judge(m v1beta1.CanaryMetric, o Observation) Result {
	r := Result{Metric: m.Name, Samples: o.Samples}
	switch {
	case o.Err != "":
		r.Verdict = Wait
		r.Reason = fmt.Sprintf("%s query failed: %s", m.Name, o.Err)
		return r
	case !o.HasValue || o.Samples == 0:
		r.Verdict = Wait
		r.Samples = 0
		r.Reason = fmt.Sprintf("%s has no data (n=0): waiting for traffic to %s", m.Name, targetOf(o))
		return r
	case math.IsNaN(o.Value):
		r.Verdict = Wait
		r.Reason = fmt.Sprintf("%s is NaN%s: waiting for traffic to %s", m.Name, samples(o.Samples), targetOf(o))
		return r
	}
	v := o.Value
	r.Value = &v
	unit := unitOf(m.Name)
	lo, hi := Bounds(m)
	switch {
	case lo != nil && v < *lo:
		r.Verdict = Fail
		r.Reason = fmt.Sprintf("%s %s < %s%s", m.Name, num(v, *lo, unit), num(*lo, *lo, unit), samples(o.Samples))
	case hi != nil && v > *hi:
		r.Verdict = Fail
		r.Reason = fmt.Sprintf("%s %s > %s%s", m.Name, num(v, *hi, unit), num(*hi, *hi, unit), samples(o.Samples))
	case lo != nil && hi != nil:
		r.Verdict = Pass
		r.Reason = fmt.Sprintf("%s %s within [%s, %s]%s", m.Name, num(v, *lo, unit), num(*lo, *lo, unit), num(*hi, *hi, unit), samples(o.Samples))
	case lo != nil:
		r.Verdict = Pass
		r.Reason = fmt.Sprintf("%s %s >= %s%s", m.Name, num(v, *lo, unit), num(*lo, *lo, unit), samples(o.Samples))
	case hi != nil:
		r.Verdict = Pass
		r.Reason = fmt.Sprintf("%s %s <= %s%s", m.Name, num(v, *hi, unit), num(*hi, *hi, unit), samples(o.Samples))
	default:
		r.Verdict = Pass
		r.Reason = fmt.Sprintf("%s %s (no limits)%s", m.Name, num(v, v, unit), samples(o.Samples))
	}
	return r
}

func targetOf(o Observation) string {
	if o.Target == "" {
		return "the canary"
	}
	return o.Target
}

func unitOf(metric string) string {
	switch metric {
	case RequestSuccessRate:
		return "%"
	case RequestDuration:
		return "ms"
	}
	return ""
}

func samples(n int64) string {
	if n < 0 {
		return ""
	}
	return fmt.Sprintf(" (n=%d)", n)
}

// num formats v with at most two decimals, or with as many as it takes to
// tell it apart from the limit it is compared with.
func num(v, limit float64, unit string) string {
	for prec := 2; ; prec++ {
		s := strconv.FormatFloat(v, 'f', prec, 64)
		if prec >= 6 || v == limit || s != strconv.FormatFloat(limit, 'f', prec, 64) {
			return trimZeros(s) + unit
		}
	}
}

func trimZeros(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			j := len(s)
			for j > i && s[j-1] == '0' {
				j--
			}
			if j == i+1 {
				j = i
			}
			return s[:j]
		}
	}
	return s
}
