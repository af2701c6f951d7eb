//go:build !wasip1

package kube

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRequestJSON(t *testing.T) {
	for _, c := range []struct {
		r    *Request
		want string
	}{
		{Get("configmaps", "a").InNamespace("shop"), `{"verb":"get","resource":"configmaps","namespace":"shop","name":"a"}`},
		{List("namespaces").WithLabelSelector("team=a").WithFieldSelector("metadata.name=x"), `{"verb":"list","resource":"namespaces","label_selector":"team=a","field_selector":"metadata.name=x"}`},
		{Create("configmaps", Object{"metadata": map[string]any{"name": "a"}}), `{"verb":"create","resource":"configmaps","object":{"metadata":{"name":"a"}}}`},
		{Apply("configmaps", Object{"kind": "ConfigMap"}).WithForce(), `{"verb":"apply","resource":"configmaps","object":{"kind":"ConfigMap"},"force":true}`},
		{Patch("routes.route.openshift.io", "web", map[string]any{"spec": map[string]any{"tls": nil}}).InNamespace("shop"), `{"verb":"patch","resource":"routes.route.openshift.io","namespace":"shop","name":"web","patch":{"spec":{"tls":null}}}`},
		{Delete("namespaces", "old"), `{"verb":"delete","resource":"namespaces","name":"old"}`},
	} {
		got, err := c.r.JSON()
		if err != nil || string(got) != c.want {
			t.Errorf("got %s %v\nwant %s", got, err, c.want)
		}
	}
}

func TestAnswers(t *testing.T) {
	defer SetMock(func(r *Request) string {
		switch r.Resource {
		case "configmaps":
			return Respond(200, Object{"metadata": map[string]any{"name": r.Name, "namespace": r.Namespace}})
		case "namespaces":
			return RespondList(Object{"metadata": map[string]any{"name": "a"}}, Object{"metadata": map[string]any{"name": "b"}})
		case "secrets":
			return Refuse(403, `secrets "x" is forbidden`)
		case "garbage":
			return `{"neither":1}`
		default:
			return Fail("denied: plugin p may not get " + r.Resource)
		}
	})()
	resp, err := Get("configmaps", "a").InNamespace("shop").Send()
	if err != nil || resp.Status != 200 || !resp.IsSuccess() {
		t.Fatal(resp, err)
	}
	if ns, name := Metadata(resp.Object); ns != "shop" || name != "a" {
		t.Error(ns, name)
	}
	var typed struct{ Metadata struct{ Name string } }
	if err := resp.DecodeObject(&typed); err != nil || typed.Metadata.Name != "a" {
		t.Error(typed, err)
	}
	resp, err = List("namespaces").Send()
	if err != nil || len(resp.Items) != 2 {
		t.Fatal(resp, err)
	}
	resp, err = Get("secrets", "x").Send()
	if err != nil || resp.Status != 403 || resp.IsSuccess() || resp.IsTransient() || resp.Message != `secrets "x" is forbidden` {
		t.Fatal(resp, err)
	}
	_, err = Get("pods", "x").Send()
	var e *Error
	if !errors.As(err, &e) || e.Failure() != Denied || e.IsTransient() || err.Error() != "denied: plugin p may not get pods" {
		t.Fatal(err)
	}
	if _, err = Get("garbage", "x").Send(); err == nil || errors.As(err, &e) {
		t.Fatal("no status:", err)
	}
}

func TestNoMock(t *testing.T) {
	if _, err := Get("configmaps", "a").Send(); err == nil || !strings.Contains(err.Error(), "SetMock") {
		t.Fatal(err)
	}
}

func TestFailures(t *testing.T) {
	for reason, want := range map[string]Failure{
		"denied: plugin p may not create configmaps":  Denied,
		"unknown verb watch":                          Denied,
		"throttled: plugin p made more than 2 writes": Throttled,
		"malformed request: missing field `resource`": Invalid,
		"invalid request: bad URL":                    Invalid,
		"env var TOKEN is not set":                    Unavailable,
		"cannot read /x":                              Unavailable,
		"no Kubernetes connection (replay)":           Unavailable,
		"connection refused":                          Unreachable,
		"Denied later":                                Unreachable,
	} {
		if got := FailureOf(reason); got != want {
			t.Errorf("%q: %v, want %v", reason, got, want)
		}
	}
	if !IsTransient(&Error{"throttled: x"}) || !IsTransient(&Error{"timed out"}) || IsTransient(&Error{"denied: x"}) {
		t.Error("transient errors")
	}
	if !IsTransient(&StatusError{Status: 503}) || IsTransient(&StatusError{Status: 403}) || IsTransient(errors.New("x")) {
		t.Error("transient statuses")
	}
	if !IsTransientStatus(429) || !IsTransientStatus(408) || IsTransientStatus(404) {
		t.Error("statuses")
	}
}

func configMap(ns, name string, labels map[string]any, data map[string]any) Object {
	meta := map[string]any{"name": name, "namespace": ns}
	if labels != nil {
		meta["labels"] = labels
	}
	return Object{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
}

func TestEnsure(t *testing.T) {
	c := NewFakeCluster()
	defer c.Install()()
	desired := configMap("shop", "shared", map[string]any{"team": "a"}, map[string]any{"k": "v"})

	// Absent: created, with the owner label and the plugin's own labels.
	if r, err := Ensure("configmaps", desired, "me"); r != Created || err != nil {
		t.Fatal(r, err)
	}
	got := c.Object("configmaps", "shop", "shared")
	if !Owns(got, "me") || Labels(got)["team"] != "a" || got["data"].(map[string]any)["k"] != "v" {
		t.Fatal(got)
	}
	if _, has := desired["metadata"].(map[string]any)["labels"].(map[string]any)[OwnerLabel]; has {
		t.Error("Ensure changed the caller's object")
	}
	// Equal: no write, however often.
	c.ClearRequests()
	for i := 0; i < 3; i++ {
		if r, err := Ensure("configmaps", desired, "me"); r != Unchanged || err != nil || r.Wrote() {
			t.Fatal(r, err)
		}
	}
	if w := c.Writes(); len(w) != 0 {
		t.Fatal(w)
	}
	// Ours and different: applied.
	changed := configMap("shop", "shared", nil, map[string]any{"k": "v2"})
	if r, err := Ensure("configmaps", changed, "me"); r != Applied || err != nil {
		t.Fatal(r, err)
	}
	if w := c.Writes(); !reflect.DeepEqual(w, []string{"apply configmaps shop/shared"}) {
		t.Fatal(w)
	}
	if v := c.Object("configmaps", "shop", "shared")["data"].(map[string]any)["k"]; v != "v2" {
		t.Fatal(v)
	}
	// Values a plugin writes as Go types compare with the decoded ones.
	typed := Object{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "shared", "namespace": "shop"}, "data": map[string]string{"k": "v2"}}
	if r, err := Ensure("configmaps", typed, "me"); r != Unchanged || err != nil {
		t.Fatal(r, err)
	}
	// Someone else's: left alone.
	c.Put("configmaps", configMap("shop", "theirs", map[string]any{OwnerLabel: "someone"}, map[string]any{"k": "mine"}))
	c.ClearRequests()
	if r, err := Ensure("configmaps", configMap("shop", "theirs", nil, map[string]any{"k": "v"}), "me"); r != NotOwned || err != nil {
		t.Fatal(r, err)
	}
	if w := c.Writes(); len(w) != 0 {
		t.Fatal(w)
	}
}

func TestEnsureErrors(t *testing.T) {
	c := NewFakeCluster()
	defer c.Install()()
	if _, err := Ensure("configmaps", Object{"metadata": map[string]any{}}, "me"); err == nil {
		t.Error("no name")
	}
	c.Intercept = func(r *Request) string {
		if r.Verb == "create" {
			return Fail("throttled: plugin p made more than 10 writes per second")
		}
		return ""
	}
	_, err := Ensure("configmaps", configMap("shop", "a", nil, nil), "me")
	if !IsTransient(err) || !strings.HasPrefix(err.Error(), "throttled") {
		t.Error(err)
	}
	c.Intercept = func(r *Request) string { return Refuse(403, "forbidden") }
	_, err = Ensure("configmaps", configMap("shop", "a", nil, nil), "me")
	var s *StatusError
	if !errors.As(err, &s) || s.Status != 403 || err.Error() != "get configmaps shop/a: the API server answered 403: forbidden" {
		t.Error(err)
	}
}

func TestRemoveOwned(t *testing.T) {
	c := NewFakeCluster()
	defer c.Install()()
	c.Put("configmaps", configMap("a", "x", map[string]any{OwnerLabel: "me"}, nil))
	c.Put("configmaps", configMap("b", "x", map[string]any{OwnerLabel: "other"}, nil))
	c.Put("configmaps", configMap("c", "x", nil, nil))
	for ns, want := range map[string]Result{"a": Deleted, "b": NotOwned, "c": NotOwned, "d": Absent} {
		if r, err := RemoveOwned("configmaps", ns, "x", "me"); r != want || err != nil {
			t.Errorf("%s: %v %v, want %v", ns, r, err, want)
		}
	}
	if w := c.Writes(); !reflect.DeepEqual(w, []string{"delete configmaps a/x"}) {
		t.Fatal(w)
	}
	if c.Object("configmaps", "b", "x") == nil || c.Object("configmaps", "c", "x") == nil {
		t.Fatal("deleted what it does not own")
	}
}

func TestFakeClusterListAndPatch(t *testing.T) {
	c := NewFakeCluster()
	defer c.Install()()
	for _, ns := range []struct {
		name   string
		labels map[string]any
	}{{"a", map[string]any{"team": "a", "env": "prod"}}, {"b", map[string]any{"team": "b"}}, {"c", nil}} {
		meta := map[string]any{"name": ns.name}
		if ns.labels != nil {
			meta["labels"] = ns.labels
		}
		c.Put("namespaces", Object{"metadata": meta})
	}
	for selector, want := range map[string]int{"": 3, "team=a": 1, "team": 2, "!team": 1, "team!=a": 2, "team=a,env=prod": 1, "team==b": 1} {
		resp, err := List("namespaces").WithLabelSelector(selector).Send()
		if err != nil || len(resp.Items) != want {
			t.Errorf("%q: %v %v, want %d", selector, resp, err, want)
		}
	}
	if got := SelectorOf(map[string]string{"z": "1", "a": "2"}); got != "a=2,z=1" {
		t.Error(got)
	}
	resp, err := Patch("namespaces", "a", map[string]any{"metadata": map[string]any{"labels": map[string]any{"env": nil}}}).Send()
	if err != nil || resp.Status != 200 || !reflect.DeepEqual(Labels(resp.Object), map[string]string{"team": "a"}) {
		t.Fatal(resp, err)
	}
	if r, _ := Delete("namespaces", "zz").Send(); r.Status != 404 {
		t.Error(r.Status)
	}
	if r, _ := Create("namespaces", Object{"metadata": map[string]any{"name": "a"}}).Send(); r.Status != 409 {
		t.Error(r.Status)
	}
}
