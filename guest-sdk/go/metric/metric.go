// Package metric is the Go side of the host's metric import (docs/ABI.md §6): the plugin's own
// counters, gauges and histograms, exported on the controller's /metrics as
// event_controller_plugin_NAME{plugin="...",...} (counters with _total). No grant is needed.
//
//	metric.Counter("warning_events", "Warning events by reason", metric.Labels{"reason": "BackOff"}, 1)
//	metric.Gauge("watched_namespaces", "Namespaces with defaults", nil, 12)
//	metric.Observe("sync_seconds", "Time to sync one object", nil, 0.042)
//	metric.ObserveWithBuckets("copy_bytes", "", nil, 1800, []float64{1e3, 1e4, 1e5, 1e6})
//
// A metric is declared by its first update: its kind, help and (histograms) buckets; later
// updates' help and buckets are ignored, so passing the same ones every time is fine. Each call
// returns whether the host recorded the update. The host refuses a bad name or label, another
// kind than the metric's, a negative counter increment, and a new series past the plugin's 1000,
// and logs why at WARN, once per reason. The values live in the host: they survive a hot reload
// of the plugin.
//
// It is a package of its own, apart from eventcontroller/guest, because it formats numbers with
// strconv: plugins that do not import it do not pay for it. It does not use encoding/json.
//
// Built natively (go test) there is no host: updates go to an in-memory mock host that checks
// them as the host does and keeps their values (see mock_other.go): Reset, Updates, Refusals,
// Value and Observations.
package metric

import (
	"errors"
	"math"
	"strconv"

	"eventcontroller/guest"
)

// Labels are a series' label names and values. Names are [a-z][a-z0-9_]*, not plugin or le, at
// most 10 of them; values at most 256 bytes. A nil or empty map is the series without labels.
type Labels = map[string]string

// Kind is a metric's kind, as written in the update.
type Kind string

// The kinds.
const (
	KindCounter   Kind = "counter"   // Value is added (0 or more)
	KindGauge     Kind = "gauge"     // Value is set
	KindHistogram Kind = "histogram" // Value is observed
)

// Update is one update, as the host reads it.
type Update struct {
	// Name is the name after the host's event_controller_plugin_ prefix: [a-z][a-z0-9_]*, at
	// most 64 characters, not ending in _total, _bucket, _count, _sum, _created or _info.
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Help is the help text; the metric's first update's counts.
	Help   string `json:"help,omitempty"`
	Labels Labels `json:"labels,omitempty"`
	// Value is added (counter), set (gauge) or observed (histogram).
	Value float64 `json:"value"`
	// Buckets are a histogram's upper bounds, 1 to 32 ascending; the metric's first update's
	// count (default 0.005 to 10).
	Buckets []float64 `json:"buckets,omitempty"`
}

// ErrRefused is the error of an update the host did not record (it logs why at WARN). Natively
// the mock's error says why and matches it with errors.Is.
var ErrRefused = errors.New("the host refused the metric update")

// Counter adds by (0 or more) to the counter name with labels; whether the host recorded it.
func Counter(name, help string, labels Labels, by float64) bool {
	return Send(Update{Name: name, Kind: KindCounter, Help: help, Labels: labels, Value: by}) == nil
}

// Gauge sets the gauge name with labels to value; whether the host recorded it.
func Gauge(name, help string, labels Labels, value float64) bool {
	return Send(Update{Name: name, Kind: KindGauge, Help: help, Labels: labels, Value: value}) == nil
}

// Observe observes value in the histogram name with labels (default buckets, 0.005 to 10, unless
// an earlier update declared others); whether the host recorded it.
func Observe(name, help string, labels Labels, value float64) bool {
	return Send(Update{Name: name, Kind: KindHistogram, Help: help, Labels: labels, Value: value}) == nil
}

// ObserveWithBuckets observes value in the histogram name with labels, declaring its bucket
// bounds (1 to 32, ascending) if this is the metric's first update; whether the host recorded
// it.
func ObserveWithBuckets(name, help string, labels Labels, value float64, buckets []float64) bool {
	return Send(Update{Name: name, Kind: KindHistogram, Help: help, Labels: labels, Value: value, Buckets: buckets}) == nil
}

// Send hands one update to the host's metric import: nil when it was recorded, an error
// matching ErrRefused when the host refused it, or an encoding error (a value or bucket that is
// NaN or infinite, which JSON cannot carry) when it was not sent.
func Send(u Update) error {
	update, err := u.JSON()
	if err != nil {
		return err
	}
	return transport(update)
}

// JSON encodes the update as the host reads it, with the members in this order, help, labels
// and buckets left out when empty, and labels sorted by name:
//
//	{"name":"warning_events","kind":"counter","help":"Warnings","labels":{"reason":"BackOff"},"value":1}
//
// Strings are escaped as guest.AppendQuoted does (invalid UTF-8 becomes U+FFFD); numbers are
// written in their shortest form (1, 0.042, 1e+21). A NaN or infinite number is an error.
func (u Update) JSON() ([]byte, error) {
	out := make([]byte, 0, 64+len(u.Name)+len(u.Help)+32*len(u.Labels)+8*len(u.Buckets))
	out = append(out, `{"name":`...)
	out = guest.AppendQuoted(out, u.Name)
	out = append(out, `,"kind":`...)
	out = guest.AppendQuoted(out, string(u.Kind))
	if u.Help != "" {
		out = append(out, `,"help":`...)
		out = guest.AppendQuoted(out, u.Help)
	}
	if len(u.Labels) > 0 {
		out = append(out, `,"labels":{`...)
		for i, name := range sortedNames(u.Labels) {
			if i > 0 {
				out = append(out, ',')
			}
			out = guest.AppendQuoted(out, name)
			out = append(out, ':')
			out = guest.AppendQuoted(out, u.Labels[name])
		}
		out = append(out, '}')
	}
	out = append(out, `,"value":`...)
	out, err := appendNumber(out, u.Value, "value")
	if err != nil {
		return nil, err
	}
	if len(u.Buckets) > 0 {
		out = append(out, `,"buckets":[`...)
		for i, bound := range u.Buckets {
			if i > 0 {
				out = append(out, ',')
			}
			if out, err = appendNumber(out, bound, "bucket bound"); err != nil {
				return nil, err
			}
		}
		out = append(out, ']')
	}
	return append(out, '}'), nil
}

// appendNumber appends v as a JSON number, in its shortest form.
func appendNumber(out []byte, v float64, what string) ([]byte, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, errors.New("metric: the " + what + " " + strconv.FormatFloat(v, 'g', -1, 64) + " is not a finite number")
	}
	return strconv.AppendFloat(out, v, 'g', -1, 64), nil
}

// sortedNames returns the label names in ascending order (an insertion sort: at most a few).
func sortedNames(labels Labels) []string {
	names := make([]string, 0, len(labels))
	for name := range labels {
		i := len(names)
		names = append(names, name)
		for ; i > 0 && names[i-1] > name; i-- {
			names[i] = names[i-1]
		}
		names[i] = name
	}
	return names
}
