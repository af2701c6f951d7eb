//go:build !wasip1

package metric

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestUpdateJSON(t *testing.T) {
	for _, c := range []struct {
		u    Update
		want string
	}{
		{
			Update{Name: "warning_events", Kind: KindCounter, Help: "Warnings", Labels: Labels{"reason": "BackOff"}, Value: 1},
			`{"name":"warning_events","kind":"counter","help":"Warnings","labels":{"reason":"BackOff"},"value":1}`,
		},
		{Update{Name: "zones", Kind: KindGauge, Value: 3}, `{"name":"zones","kind":"gauge","value":3}`},
		{Update{Name: "zones", Kind: KindGauge, Labels: Labels{}, Value: -2.5}, `{"name":"zones","kind":"gauge","value":-2.5}`},
		{
			Update{Name: "sync_seconds", Kind: KindHistogram, Value: 0.042, Buckets: []float64{0.01, 0.1, 1, 10}},
			`{"name":"sync_seconds","kind":"histogram","value":0.042,"buckets":[0.01,0.1,1,10]}`,
		},
		{Update{Name: "big", Kind: KindCounter, Value: 1e21}, `{"name":"big","kind":"counter","value":1e+21}`},
		{Update{Name: "small", Kind: KindGauge, Value: 1e-7}, `{"name":"small","kind":"gauge","value":1e-07}`},
		// Labels sorted by name; quotes, backslashes, control characters escaped; invalid UTF-8
		// replaced.
		{
			Update{Name: "x", Kind: KindCounter, Help: "say \"hi\"\n", Labels: Labels{"zone": "a\\b", "app": "caf\xe9", "b": "ünï\t"}, Value: 0},
			`{"name":"x","kind":"counter","help":"say \"hi\"\n","labels":{"app":"caf` + "\ufffd" + `","b":"ünï\t","zone":"a\\b"},"value":0}`,
		},
	} {
		got, err := c.u.JSON()
		if err != nil || string(got) != c.want {
			t.Errorf("got %s %v\nwant %s", got, err, c.want)
		}
	}
}

// The JSON is what a JSON reader gets back as the same update.
func TestUpdateJSONRoundTrips(t *testing.T) {
	labels := Labels{}
	for i := 0; i < 10; i++ {
		labels["l"+strconv.Itoa(9-i)] = strings.Repeat("\"\\\x01é", i)
	}
	for _, u := range []Update{
		{Name: "a", Kind: KindCounter, Labels: labels, Value: 123456789.125},
		{Name: "b", Kind: KindHistogram, Help: "\u2028 </script>", Value: -0.000001, Buckets: []float64{-1, 0, 1e-300, 1e300}},
		{Name: "c", Kind: KindGauge, Value: math.MaxFloat64},
		{Name: "d", Kind: KindGauge, Value: math.SmallestNonzeroFloat64},
	} {
		raw, err := u.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var back Update
		if err := json.Unmarshal(raw, &back); err != nil || !reflect.DeepEqual(back, u) {
			t.Errorf("%s: %+v %v", raw, back, err)
		}
	}
}

func TestNonFiniteNumbersAreNotSent(t *testing.T) {
	Reset()
	for _, u := range []Update{
		{Name: "a", Kind: KindGauge, Value: math.NaN()},
		{Name: "a", Kind: KindCounter, Value: math.Inf(1)},
		{Name: "a", Kind: KindHistogram, Value: 1, Buckets: []float64{1, math.Inf(1)}},
	} {
		err := Send(u)
		if err == nil || errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not a finite number") {
			t.Errorf("%+v: %v", u, err)
		}
	}
	if Gauge("a", "", nil, math.NaN()) {
		t.Error("NaN recorded")
	}
	if len(Updates()) != 0 || len(Refusals()) != 0 {
		t.Error("sent:", Updates(), Refusals())
	}
}

func TestMockKeepsTheValues(t *testing.T) {
	Reset()
	created := Labels{"action": "created"}
	if !Counter("copies", "Copies by action", created, 1) || !Counter("copies", "", Labels{"action": "created"}, 2) ||
		!Counter("copies", "", Labels{"action": "deleted"}, 0) {
		t.Fatal(Refusals())
	}
	created["action"] = "changed after the call" // the mock kept its own copy
	Gauge("namespaces", "", nil, 5)
	Gauge("namespaces", "", Labels{}, 3) // no labels and empty labels: the same series
	Observe("sync_seconds", "", Labels{"verb": "get"}, 0.5)
	ObserveWithBuckets("sync_seconds", "", Labels{"verb": "get"}, 0.25, []float64{0.1, 1})
	for _, c := range []struct {
		name   string
		labels Labels
		want   float64
		ok     bool
	}{
		{"copies", Labels{"action": "created"}, 3, true},
		{"copies", Labels{"action": "deleted"}, 0, true},
		{"copies", Labels{"action": "updated"}, 0, false},
		{"copies", nil, 0, false},
		{"namespaces", nil, 3, true},
		{"sync_seconds", Labels{"verb": "get"}, 0.75, true},
		{"absent", nil, 0, false},
	} {
		if got, ok := Value(c.name, c.labels); got != c.want || ok != c.ok {
			t.Errorf("%s%v = %v %v, want %v %v", c.name, c.labels, got, ok, c.want, c.ok)
		}
	}
	if o := Observations("sync_seconds", Labels{"verb": "get"}); !reflect.DeepEqual(o, []float64{0.5, 0.25}) {
		t.Error(o)
	}
	if o := Observations("copies", Labels{"action": "created"}); o != nil {
		t.Error("a counter has no observations:", o)
	}
	updates := Updates()
	if len(updates) != 7 {
		t.Fatal(updates)
	}
	want := Update{Name: "copies", Kind: KindCounter, Help: "Copies by action", Labels: Labels{"action": "created"}, Value: 1}
	if !reflect.DeepEqual(updates[0], want) {
		t.Errorf("%+v", updates[0])
	}
	if u := updates[6]; u.Kind != KindHistogram || !reflect.DeepEqual(u.Buckets, []float64{0.1, 1}) {
		t.Errorf("%+v", u)
	}
	Reset()
	if _, ok := Value("copies", Labels{"action": "created"}); ok || len(Updates()) != 0 {
		t.Error("Reset kept", Updates())
	}
}

func TestMockRefusesWhatTheHostRefuses(t *testing.T) {
	Reset()
	for _, c := range []struct {
		u      Update
		reason string
	}{
		{Update{Name: "Bad", Kind: KindCounter, Value: 1}, `invalid metric "Bad": a name is [a-z][a-z0-9_]*, at most 64 characters`},
		{Update{Name: "", Kind: KindCounter, Value: 1}, `a name is`},
		{Update{Name: "9lives", Kind: KindCounter, Value: 1}, `a name is`},
		{Update{Name: "with-dash", Kind: KindCounter, Value: 1}, `a name is`},
		{Update{Name: strings.Repeat("a", 65), Kind: KindCounter, Value: 1}, `a name is`},
		{Update{Name: "events_total", Kind: KindCounter, Value: 1}, `a name may not end with _total`},
		{Update{Name: "x_info", Kind: KindGauge, Value: 1}, `a name may not end with _info`},
		{Update{Name: "x", Kind: KindCounter, Labels: Labels{"plugin": "other"}, Value: 1}, `label "plugin": a label is [a-z][a-z0-9_]*, not`},
		{Update{Name: "x", Kind: KindCounter, Labels: Labels{"le": "1"}, Value: 1}, `label "le"`},
		{Update{Name: "x", Kind: KindCounter, Labels: Labels{"Team": "a"}, Value: 1}, `label "Team"`},
		{Update{Name: "x", Kind: KindCounter, Labels: Labels{"team": strings.Repeat("é", 129)}, Value: 1}, `label "team": a value has at most 256 bytes`},
		{Update{Name: "x", Kind: KindCounter, Labels: manyLabels(11), Value: 1}, `more than 10 labels`},
		{Update{Name: "x", Kind: KindCounter, Value: -1}, `a counter only goes up`},
		{Update{Name: "x", Kind: KindGauge, Value: 1, Buckets: []float64{1}}, `buckets are 1 to 32 ascending bounds, for a histogram`},
		{Update{Name: "h", Kind: KindHistogram, Value: 1, Buckets: []float64{1, 1}}, `buckets are`},
		{Update{Name: "h", Kind: KindHistogram, Value: 1, Buckets: make([]float64, 33)}, `buckets are`},
		{Update{Name: "x", Kind: "summary", Value: 1}, "malformed metric update: unknown variant `summary`"},
	} {
		err := Send(c.u)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%+v: %v, want %q", c.u, err, c.reason)
		}
	}
	// Ten labels and 256 bytes are allowed; so is a gauge going down and a 0 increment.
	if !Counter("x", "", manyLabels(10), 0) || !Gauge("g", "", Labels{"team": strings.Repeat("é", 128)}, -1) {
		t.Error(Refusals())
	}
	// A metric keeps its first kind.
	if Gauge("x", "", nil, 1) || Observe("x", "", nil, 1) {
		t.Error("kind changed")
	}
	refusals := Refusals()
	if len(refusals) != 19 || refusals[17] != `metric "x" is a counter, not a gauge` || refusals[18] != `metric "x" is a counter, not a histogram` {
		t.Errorf("%d %q", len(refusals), refusals)
	}
	if len(Updates()) != 2 {
		t.Error(Updates())
	}
}

func TestMockCapsTheSeries(t *testing.T) {
	Reset()
	for i := 0; i < MaxSeries; i++ {
		if !Counter("requests", "", Labels{"id": strconv.Itoa(i)}, 1) {
			t.Fatal(i, Refusals())
		}
	}
	err := Send(Update{Name: "other", Kind: KindGauge, Labels: Labels{"id": "x"}, Value: 1})
	if !errors.Is(err, ErrRefused) || err.Error() != `plugin holds 1000 metric series, its limit: metric "other" with labels {"id": "x"} is not recorded (fewer label values, please)` {
		t.Fatal(err)
	}
	// The series held go on.
	if !Counter("requests", "", Labels{"id": "7"}, 1) {
		t.Fatal(Refusals())
	}
	if v, _ := Value("requests", Labels{"id": "7"}); v != 2 {
		t.Error(v)
	}
	Reset()
	if !Gauge("other", "", nil, 1) {
		t.Error("Reset kept the series count")
	}
}

func manyLabels(n int) Labels {
	labels := Labels{}
	for i := 0; i < n; i++ {
		labels["l"+strconv.Itoa(i)] = "v"
	}
	return labels
}
