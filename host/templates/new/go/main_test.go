package main

import (
	"testing"

	"eventcontroller/guest"
)

func TestLogsKindAndName(t *testing.T) {
	event := `{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1","namespace":"shop"},"spec":{}}}`
	want := guest.Outcome{Level: guest.LevelInfo, Message: "Kind: Pod; Name: web-1"}
	if got := handle(guest.NewEvent([]byte(event))); got == nil || *got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestReadsTheObjectNotItsNestedMembers(t *testing.T) {
	event := `{"object":{"metadata":{"ownerReferences":[{"kind":"ReplicaSet","name":"rs"}],"name":"web-2"},"kind":"Pod"},"type":"MODIFIED"}`
	if got := handle(guest.NewEvent([]byte(event))); got == nil || got.Message != "Kind: Pod; Name: web-2" {
		t.Errorf("got %+v", got)
	}
}

func TestSaysNothingWithoutAName(t *testing.T) {
	event := `{"type":"ADDED","object":{"kind":"Pod","metadata":{}}}`
	if got := handle(guest.NewEvent([]byte(event))); got != nil {
		t.Errorf("got %+v, want nil", got)
	}
}
