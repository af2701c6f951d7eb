package main

import (
	"testing"

	"eventcontroller/guest"
)

func run(t *testing.T, config, event string) *guest.Outcome {
	t.Helper()
	prefix, skipKind, skipping = "", "", false
	if err := configure(guest.NewConfig(config)); err != nil {
		t.Fatal(err)
	}
	return handle(guest.NewEvent([]byte(event)))
}

func TestContract(t *testing.T) {
	nested := `{"object":{"metadata":{"ownerReferences":[{"kind":"ReplicaSet","name":"o"}],"name":"n"},` +
		`"spec":{"template":{"kind":"Inner","metadata":{"name":"inner"}}},"kind":"Po\u0064"},"type":"ADDED"}`
	if got := run(t, `{}`, nested); got == nil || *got != (guest.Outcome{Level: guest.LevelInfo, Message: "Kind: Pod; Name: n"}) {
		t.Errorf("no config: %+v", got)
	}
	if got := run(t, `{"prefix":"[\u00e9] ","other":1}`, nested); got == nil || got.Message != "[é] Kind: Pod; Name: n" {
		t.Errorf("prefix: %+v", got)
	}
	if got := run(t, `{"skip_kind":"Pod"}`, nested); got != nil {
		t.Errorf("skip_kind: %+v", got)
	}
	if got := run(t, `{"skip_kind":"Service"}`, nested); got == nil {
		t.Error("skip_kind of another kind skipped the event")
	}
	if got := run(t, `{}`, `{"object":{"kind":"Pod","metadata":{}}}`); got == nil || got.Message != "event has no object.metadata.name" {
		t.Errorf("missing name: %+v", got)
	}
	if err := configure(guest.NewConfig(`{"prefix":5}`)); err == nil {
		t.Error("a non-string prefix is accepted")
	}
}
