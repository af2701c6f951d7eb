//go:build !wasip1

package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"eventcontroller/guest"
	"eventcontroller/guest/kube"
	"eventcontroller/guest/metric"
)

const config = `{"source":{"namespace":"platform","name":"shared"},"namespace_selector":{"team":"a"},"owner":"go-replicator"}`

// setup makes a cluster with the source platform/shared, namespaces a1 and a2 (team=a), b (team=b)
// and platform (team=a too: the source's own namespace never gets a copy), and empties the
// metric mock before the config.
func setup(t *testing.T) *kube.FakeCluster {
	t.Helper()
	metric.Reset()
	if err := configure(guest.NewConfig(config)); err != nil {
		t.Fatal(err)
	}
	c := kube.NewFakeCluster()
	t.Cleanup(c.Install())
	for ns, team := range map[string]string{"a1": "a", "a2": "a", "b": "b", "platform": "a"} {
		c.Put("namespaces", namespace(ns, team))
	}
	c.Put("configmaps", configMap("platform", "shared", nil, `{"k":"v"}`))
	return c
}

func namespace(name, team string) string {
	labels := `{}`
	if team != "" {
		labels = `{"team":"` + team + `"}`
	}
	return `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"` + name + `","labels":` + labels + `}}`
}

func configMap(ns, name string, labels map[string]string, data string) string {
	l := `{}`
	if labels != nil {
		parts := []string{}
		for k, v := range labels {
			parts = append(parts, `"`+k+`":"`+v+`"`)
		}
		l = "{" + strings.Join(parts, ",") + "}"
	}
	return `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + name + `","namespace":"` + ns + `","labels":` + l + `},"data":` + data + `}`
}

func event(eventType, object string) *guest.Event {
	return guest.NewEvent([]byte(`{"type":"` + eventType + `","object":` + object + `}`))
}

// current is the event the cluster's object would produce now.
func current(t *testing.T, c *kube.FakeCluster, eventType, resource, ns, name string) *guest.Event {
	t.Helper()
	o := c.Object(resource, ns, name)
	if o == nil {
		t.Fatalf("no %s %s/%s", resource, ns, name)
	}
	o["kind"] = map[string]string{"namespaces": "Namespace", "configmaps": "ConfigMap"}[resource]
	raw, err := jsonOf(o)
	if err != nil {
		t.Fatal(err)
	}
	return event(eventType, raw)
}

func jsonOf(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func data(t *testing.T, c *kube.FakeCluster, ns string) map[string]any {
	t.Helper()
	o := c.Object("configmaps", ns, "shared")
	if o == nil {
		return nil
	}
	d, _ := o["data"].(map[string]any)
	return d
}

// copies returns configmap_copies by action, as the mock host holds them, and fails on any
// metric update the host would refuse.
func copies(t *testing.T) map[string]float64 {
	t.Helper()
	if r := metric.Refusals(); len(r) != 0 {
		t.Fatal("metric updates refused:", r)
	}
	out := map[string]float64{}
	for _, action := range Actions {
		v, ok := metric.Value(CopiesMetric, metric.Labels{"action": action})
		if !ok {
			t.Fatalf("no series %s{action=%q}", CopiesMetric, action)
		}
		out[action] = v
	}
	return out
}

// counted fails unless configmap_copies holds want (actions absent from want: 0).
func counted(t *testing.T, want map[string]float64) {
	t.Helper()
	got := copies(t)
	for _, action := range Actions {
		if got[action] != want[action] {
			t.Errorf("%s{action=%q} = %v, want %v (all: %v)", CopiesMetric, action, got[action], want[action], got)
		}
	}
}

func writes(c *kube.FakeCluster) []string {
	w := c.Writes()
	c.ClearRequests()
	return w
}

func TestConfig(t *testing.T) {
	for _, bad := range []string{
		`{}`,
		`{"source":{"namespace":"a"},"namespace_selector":{"x":"y"}}`,
		`{"source":{"namespace":"a","name":"b"}}`,
		`{"source":{"namespace":"a","name":"b"},"namespace_selector":{"x":"y"},"ownr":"typo"}`,
		`[]`,
	} {
		if err := configure(guest.NewConfig(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if err := configure(guest.NewConfig(`{"source":{"namespace":"a","name":"b"},"namespace_selector":{"x":"y"}}`)); err != nil || cfg.Owner != "go-replicator" {
		t.Error(err, cfg.Owner)
	}
}

// The config declares configmap_copies with its help, every action at 0; a refused config
// declares nothing.
func TestConfigDeclaresTheMetricAtZero(t *testing.T) {
	metric.Reset()
	if err := configure(guest.NewConfig(`{}`)); err == nil || len(metric.Updates()) != 0 {
		t.Fatal(err, metric.Updates())
	}
	if err := configure(guest.NewConfig(config)); err != nil {
		t.Fatal(err)
	}
	updates := metric.Updates()
	if len(updates) != len(Actions) {
		t.Fatal(updates)
	}
	for i, u := range updates {
		want := metric.Update{Name: "configmap_copies", Kind: metric.KindCounter, Help: copiesHelp, Labels: metric.Labels{"action": Actions[i]}}
		if !reflect.DeepEqual(u, want) {
			t.Errorf("%+v", u)
		}
	}
	counted(t, nil)
	// A reload's config adds nothing to what the host holds.
	metric.Counter(CopiesMetric, "", metric.Labels{"action": ActionCreated}, 4)
	if err := configure(guest.NewConfig(config)); err != nil {
		t.Fatal(err)
	}
	counted(t, map[string]float64{ActionCreated: 4})
}

func TestSourceIsCopiedToMatchingNamespacesOnly(t *testing.T) {
	c := setup(t)
	c.Put("configmaps", configMap("a2", "shared", map[string]string{"app": "human"}, `{"mine":"yes"}`))
	out := handle(current(t, c, "ADDED", "configmaps", "platform", "shared"))
	if out == nil || out.Level != guest.LevelWarn || !strings.Contains(out.Message, "copied platform/shared to a1/shared") ||
		!strings.Contains(out.Message, "ConfigMap a2/shared is not managed by go-replicator") {
		t.Fatalf("%+v", out)
	}
	if w := writes(c); !reflect.DeepEqual(w, []string{"create configmaps a1/shared"}) {
		t.Fatal(w)
	}
	copied := c.Object("configmaps", "a1", "shared")
	if !kube.Owns(copied, "go-replicator") || data(t, c, "a1")["k"] != "v" {
		t.Fatal(copied)
	}
	if ann := copied["metadata"].(map[string]any)["annotations"].(map[string]any)[SourceAnnotation]; ann != "platform/shared" {
		t.Error(ann)
	}
	if d := data(t, c, "a2"); d["mine"] != "yes" || d["k"] != nil {
		t.Error("the foreign ConfigMap was changed:", d)
	}
	if c.Object("configmaps", "b", "shared") != nil {
		t.Error("copied to a namespace that does not match")
	}
	counted(t, map[string]float64{ActionCreated: 1, ActionLeftAlone: 1})
	// The list asked for the matching namespaces only.
	c.Put("configmaps", configMap("platform", "shared", nil, `{"k":"v"}`))
	handle(current(t, c, "MODIFIED", "configmaps", "platform", "shared"))
	counted(t, map[string]float64{ActionCreated: 1, ActionUnchanged: 1, ActionLeftAlone: 2})
	var listed []string
	for _, r := range c.Requests() {
		if r.Verb == "list" {
			listed = append(listed, r.Resource+"?"+r.LabelSelector)
		}
	}
	if !reflect.DeepEqual(listed, []string{"namespaces?team=a"}) {
		t.Error(listed)
	}
}

func TestRedeliveryWritesNothing(t *testing.T) {
	c := setup(t)
	handle(current(t, c, "ADDED", "configmaps", "platform", "shared"))
	writes(c)
	// A restart delivers everything again: the source, the namespaces, the copies.
	var events []*guest.Event
	events = append(events, current(t, c, "ADDED", "configmaps", "platform", "shared"))
	for _, ns := range []string{"a1", "a2", "b", "platform"} {
		events = append(events, current(t, c, "ADDED", "namespaces", "", ns))
	}
	events = append(events, current(t, c, "ADDED", "configmaps", "a1", "shared"), current(t, c, "ADDED", "configmaps", "a2", "shared"))
	for _, e := range events {
		if out := handle(e); out != nil && out.Level > guest.LevelDebug {
			t.Errorf("%+v", out)
		}
	}
	if w := writes(c); len(w) != 0 {
		t.Fatal(w)
	}
	// Each copy was found equal three times: by the source's event, its namespace's and its own.
	counted(t, map[string]float64{ActionCreated: 2, ActionUnchanged: 6})
}

func TestChangedSourceReachesEveryCopy(t *testing.T) {
	c := setup(t)
	handle(current(t, c, "ADDED", "configmaps", "platform", "shared"))
	writes(c)
	c.Put("configmaps", configMap("platform", "shared", nil, `{"k":"v2","new":"n"}`))
	out := handle(current(t, c, "MODIFIED", "configmaps", "platform", "shared"))
	if out == nil || out.Level != guest.LevelInfo || !strings.Contains(out.Message, "updated a1/shared") {
		t.Fatalf("%+v", out)
	}
	if w := writes(c); !reflect.DeepEqual(w, []string{"apply configmaps a1/shared", "apply configmaps a2/shared"}) {
		t.Fatal(w)
	}
	for _, ns := range []string{"a1", "a2"} {
		if d := data(t, c, ns); d["k"] != "v2" || d["new"] != "n" {
			t.Error(ns, d)
		}
	}
	counted(t, map[string]float64{ActionCreated: 2, ActionUpdated: 2})
}

func TestNamespacesJoiningAndLeaving(t *testing.T) {
	c := setup(t)
	handle(current(t, c, "ADDED", "configmaps", "platform", "shared"))
	writes(c)
	// b is labelled team=a: it gets a copy.
	c.Put("namespaces", namespace("b", "a"))
	if out := handle(current(t, c, "MODIFIED", "namespaces", "", "b")); out == nil || !strings.Contains(out.Message, "copied platform/shared to b/shared") {
		t.Fatalf("%+v", out)
	}
	if w := writes(c); !reflect.DeepEqual(w, []string{"create configmaps b/shared"}) {
		t.Fatal(w)
	}
	// a1 loses its label: its copy goes.
	c.Put("namespaces", namespace("a1", ""))
	if out := handle(current(t, c, "MODIFIED", "namespaces", "", "a1")); out == nil || !strings.Contains(out.Message, "removed its copy a1/shared") {
		t.Fatalf("%+v", out)
	}
	if w := writes(c); !reflect.DeepEqual(w, []string{"delete configmaps a1/shared"}) {
		t.Fatal(w)
	}
	// A foreign same-named ConfigMap in a namespace that stops matching stays.
	c.Put("configmaps", configMap("b", "shared", map[string]string{"app": "human"}, `{}`))
	c.Put("namespaces", namespace("b", "b"))
	handle(current(t, c, "MODIFIED", "namespaces", "", "b"))
	if w := writes(c); len(w) != 0 || c.Object("configmaps", "b", "shared") == nil {
		t.Fatal(w)
	}
	// The source's own namespace and deleted namespaces are never written to.
	handle(current(t, c, "MODIFIED", "namespaces", "", "platform"))
	handle(event("DELETED", namespace("a2", "a")))
	if w := writes(c); len(w) != 0 {
		t.Fatal(w)
	}
	counted(t, map[string]float64{ActionCreated: 3, ActionDeleted: 1})
}

func TestCopiesAreRecreatedAndRestored(t *testing.T) {
	c := setup(t)
	handle(current(t, c, "ADDED", "configmaps", "platform", "shared"))
	writes(c)
	// Someone deletes our copy while a1 still matches: it comes back.
	gone := current(t, c, "DELETED", "configmaps", "a1", "shared")
	c.Remove("configmaps", "a1", "shared")
	if out := handle(gone); out == nil || !strings.Contains(out.Message, "copied platform/shared to a1/shared") {
		t.Fatalf("%+v", out)
	}
	if w := writes(c); !reflect.DeepEqual(w, []string{"create configmaps a1/shared"}) {
		t.Fatal(w)
	}
	// Someone edits our copy: it is restored.
	edited := c.Object("configmaps", "a1", "shared")
	edited["data"] = map[string]any{"k": "hacked"}
	c.Put("configmaps", edited)
	handle(current(t, c, "MODIFIED", "configmaps", "a1", "shared"))
	if w := writes(c); !reflect.DeepEqual(w, []string{"apply configmaps a1/shared"}) || data(t, c, "a1")["k"] != "v" {
		t.Fatal(w, data(t, c, "a1"))
	}
	// A foreign one deleted, or another ConfigMap: nothing.
	handle(event("DELETED", configMap("a2", "shared", map[string]string{"app": "human"}, `{}`)))
	handle(event("ADDED", configMap("a1", "other", nil, `{}`)))
	if w := writes(c); len(w) != 0 {
		t.Fatal(w)
	}
	counted(t, map[string]float64{ActionCreated: 3, ActionUpdated: 1})
}

func TestSourceDeletedKeepsTheCopies(t *testing.T) {
	c := setup(t)
	handle(current(t, c, "ADDED", "configmaps", "platform", "shared"))
	writes(c)
	gone := current(t, c, "DELETED", "configmaps", "platform", "shared")
	c.Remove("configmaps", "platform", "shared")
	if out := handle(gone); out == nil || !strings.Contains(out.Message, "copies stay") {
		t.Fatalf("%+v", out)
	}
	// Namespaces joining meanwhile get nothing (there is nothing to copy), and nothing fails.
	c.Put("namespaces", namespace("b", "a"))
	if out := handle(current(t, c, "MODIFIED", "namespaces", "", "b")); out == nil || out.Level != guest.LevelDebug {
		t.Fatalf("%+v", out)
	}
	if w := writes(c); len(w) != 0 || data(t, c, "a1")["k"] != "v" {
		t.Fatal(w)
	}
	counted(t, map[string]float64{ActionCreated: 2})
}

func TestFailuresAskForARetry(t *testing.T) {
	c := setup(t)
	c.Intercept = func(r *kube.Request) string {
		if r.Verb == "create" {
			return kube.Fail("throttled: plugin go_replicator made more than 10 writes per second")
		}
		return ""
	}
	out := handle(current(t, c, "ADDED", "configmaps", "platform", "shared"))
	if out == nil || !out.Retry || out.Level != guest.LevelWarn || !strings.Contains(out.Message, "throttled") {
		t.Fatalf("%+v", out)
	}
	c.Intercept = func(r *kube.Request) string { return kube.Fail("denied: plugin go_replicator may not list namespaces") }
	out = handle(current(t, c, "ADDED", "configmaps", "platform", "shared"))
	if out == nil || out.Retry || out.Level != guest.LevelError || !strings.Contains(out.Message, "denied") {
		t.Fatalf("%+v", out)
	}
	// Failures are not copies handled (the host counts the failed requests).
	counted(t, nil)
}
