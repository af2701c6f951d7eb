//go:build !wasip1

package metric

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Built natively there is no host: Send goes to an in-memory mock host, for the plugin's unit
// tests. It reads the update's JSON as the host does, refuses what the host refuses (with the
// host's reasons: a bad name or label, a kind other than the metric's, a negative counter
// increment, bad buckets, a new series past 1000), and keeps every series' value. Its state
// lasts until Reset, like the host's values, which last while the controller runs: call Reset
// at the start of each test that checks metrics.
//
//	metric.Reset()
//	handle(event)
//	if v, _ := metric.Value("warning_events", metric.Labels{"reason": "BackOff"}); v != 1 {
//		t.Errorf("warning_events{reason=BackOff} = %v, want 1", v)
//	}

// MaxSeries is how many series (metric and label values together) the host keeps for a plugin;
// the update that would open one more is refused.
const MaxSeries = 1000

type series struct {
	labels       Labels
	value        float64   // a counter's total, a gauge's value, a histogram's sum
	observations []float64 // a histogram's observed values
}

// family is a metric: its kind (its first update's) and series. The host also keeps the first
// update's help and buckets; Updates has them.
type family struct {
	kind   Kind
	series map[string]*series
}

var (
	mockMu   sync.Mutex
	families = map[string]*family{}
	held     int // series, over every family
	updates  []Update
	refusals []string
	warned   = map[string]bool{}
)

// Reset forgets every update, refusal and value recorded so far: the mock host starts empty.
func Reset() {
	mockMu.Lock()
	defer mockMu.Unlock()
	families, held, updates, refusals, warned = map[string]*family{}, 0, nil, nil, map[string]bool{}
}

// Updates returns the updates the mock host recorded since Reset, oldest first, as it read them
// (refused ones are in Refusals instead).
func Updates() []Update {
	mockMu.Lock()
	defer mockMu.Unlock()
	out := make([]Update, len(updates))
	for i, u := range updates {
		out[i] = u
		out[i].Labels = copyLabels(u.Labels)
		out[i].Buckets = append([]float64(nil), u.Buckets...)
	}
	return out
}

// Refusals returns why the mock host refused updates since Reset, oldest first, in the host's
// words (e.g. `invalid metric "Bad": a name is [a-z][a-z0-9_]*, at most 64 characters`). A test
// can assert it is empty: the real host would have refused those updates too.
func Refusals() []string {
	mockMu.Lock()
	defer mockMu.Unlock()
	return append([]string(nil), refusals...)
}

// Value returns the value of the series name with labels (nil for none): a counter's total, a
// gauge's last value, a histogram's sum of observations. false when there is no such series.
func Value(name string, labels Labels) (float64, bool) {
	mockMu.Lock()
	defer mockMu.Unlock()
	if s := find(name, labels); s != nil {
		return s.value, true
	}
	return 0, false
}

// Observations returns the values observed in the histogram series name with labels, oldest
// first (its count is their number); nil when there is no such series or it is not a histogram.
func Observations(name string, labels Labels) []float64 {
	mockMu.Lock()
	defer mockMu.Unlock()
	if s := find(name, labels); s != nil && s.observations != nil {
		return append([]float64(nil), s.observations...)
	}
	return nil
}

func find(name string, labels Labels) *series {
	if f := families[name]; f != nil {
		return f.series[seriesKey(labels)]
	}
	return nil
}

// seriesKey identifies a series by its labels, sorted.
func seriesKey(labels Labels) string {
	var b strings.Builder
	for _, name := range sortedNames(labels) {
		b.WriteString(name + "\x00" + labels[name] + "\x00")
	}
	return b.String()
}

func copyLabels(labels Labels) Labels {
	if labels == nil {
		return nil
	}
	out := make(Labels, len(labels))
	for k, v := range labels {
		out[k] = v
	}
	return out
}

// refusedError is a refusal of the mock host: its text is the host's reason.
type refusedError struct{ reason string }

func (e *refusedError) Error() string        { return e.reason }
func (e *refusedError) Is(target error) bool { return target == ErrRefused }

// transport, natively: the mock host reads the update's JSON and records or refuses it.
func transport(request []byte) error {
	mockMu.Lock()
	defer mockMu.Unlock()
	u, err := apply(request)
	if err != nil {
		reason := err.Error()
		refusals = append(refusals, reason)
		if !warned[reason] {
			warned[reason] = true
			os.Stderr.WriteString("[WARN] metric refused (mock host): " + reason + "\n")
		}
		return &refusedError{reason}
	}
	updates = append(updates, u)
	return nil
}

// wire is the update as the host decodes it: name, kind and value required, nothing unknown.
type wire struct {
	Name    *string    `json:"name"`
	Kind    *string    `json:"kind"`
	Help    string     `json:"help"`
	Labels  Labels     `json:"labels"`
	Value   *float64   `json:"value"`
	Buckets *[]float64 `json:"buckets"`
}

// apply reads, checks and applies one update, as the host's plugin metrics do.
func apply(request []byte) (Update, error) {
	var w wire
	decoder := json.NewDecoder(bytes.NewReader(request))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&w); err != nil {
		return Update{}, errors.New("malformed metric update: " + err.Error())
	}
	switch {
	case w.Name == nil:
		return Update{}, errors.New("malformed metric update: missing field `name`")
	case w.Kind == nil:
		return Update{}, errors.New("malformed metric update: missing field `kind`")
	case w.Value == nil:
		return Update{}, errors.New("malformed metric update: missing field `value`")
	}
	u := Update{Name: *w.Name, Kind: Kind(*w.Kind), Help: w.Help, Labels: w.Labels, Value: *w.Value}
	if u.Kind != KindCounter && u.Kind != KindGauge && u.Kind != KindHistogram {
		return Update{}, errors.New("malformed metric update: unknown variant `" + *w.Kind + "`, expected one of `counter`, `gauge`, `histogram`")
	}
	if w.Buckets != nil {
		u.Buckets = *w.Buckets
	}
	if err := check(u, w.Buckets != nil); err != nil {
		return Update{}, err
	}
	f := families[u.Name]
	if f == nil {
		f = &family{kind: u.Kind, series: map[string]*series{}}
		families[u.Name] = f
	}
	if f.kind != u.Kind {
		return Update{}, errors.New("metric " + strconv.Quote(u.Name) + " is a " + string(f.kind) + ", not a " + string(u.Kind))
	}
	key := seriesKey(u.Labels)
	s := f.series[key]
	if s == nil {
		if held >= MaxSeries {
			return Update{}, errors.New("plugin holds " + strconv.Itoa(MaxSeries) + " metric series, its limit: metric " + strconv.Quote(u.Name) + " with labels " + labelText(u.Labels) + " is not recorded (fewer label values, please)")
		}
		held++
		s = &series{labels: copyLabels(u.Labels)}
		if u.Kind == KindHistogram {
			s.observations = []float64{}
		}
		f.series[key] = s
	}
	switch u.Kind {
	case KindCounter, KindHistogram:
		s.value += u.Value
	case KindGauge:
		s.value = u.Value
	}
	if u.Kind == KindHistogram {
		s.observations = append(s.observations, u.Value)
	}
	return u, nil
}

// check applies the host's rules to one update (docs/ABI.md §6).
func check(u Update, hasBuckets bool) error {
	invalid := func(reason string) error {
		return errors.New("invalid metric " + strconv.Quote(u.Name) + ": " + reason)
	}
	if !validName(u.Name) {
		return invalid("a name is [a-z][a-z0-9_]*, at most 64 characters")
	}
	for _, suffix := range []string{"_total", "_bucket", "_count", "_sum", "_created", "_info"} {
		if strings.HasSuffix(u.Name, suffix) {
			return invalid("a name may not end with " + suffix + " (the host adds suffixes)")
		}
	}
	if len(u.Labels) > 10 {
		return invalid("more than 10 labels")
	}
	for _, name := range sortedNames(u.Labels) {
		if !validName(name) || name == "plugin" || name == "le" {
			return invalid("label " + strconv.Quote(name) + ": a label is [a-z][a-z0-9_]*, not `plugin` or `le`")
		}
		if len(u.Labels[name]) > 256 {
			return invalid("label " + strconv.Quote(name) + ": a value has at most 256 bytes")
		}
	}
	if math.IsNaN(u.Value) || math.IsInf(u.Value, 0) {
		return invalid("the value is not a finite number")
	}
	if u.Kind == KindCounter && u.Value < 0 {
		return invalid("a counter only goes up: the value must be 0 or more")
	}
	if hasBuckets {
		ascending := true
		for i := 1; i < len(u.Buckets); i++ {
			ascending = ascending && u.Buckets[i-1] < u.Buckets[i]
		}
		if u.Kind != KindHistogram || len(u.Buckets) == 0 || !ascending || len(u.Buckets) > 32 {
			return invalid("buckets are 1 to 32 ascending bounds, for a histogram")
		}
	}
	return nil
}

// validName is [a-z][a-z0-9_]*, at most 64 characters.
func validName(name string) bool {
	if name == "" || len(name) > 64 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// labelText writes labels as {"k": "v", ...}, sorted, as the host's refusal does.
func labelText(labels Labels) string {
	parts := make([]string, 0, len(labels))
	for _, name := range sortedNames(labels) {
		parts = append(parts, strconv.Quote(name)+": "+strconv.Quote(labels[name]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
