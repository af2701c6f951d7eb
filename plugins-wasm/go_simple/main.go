// Command go_simple is the Go port of plugin_simple, the conformance contract
// (docs/conformance.md): logs every event at INFO as `{prefix}Kind: {kind}; Name: {name}`, and
// returns no outcome for events whose object.kind equals the config's skip_kind.
//
// Config (optional): {"prefix": string, "skip_kind": string}. Reads only the event's identity
// (object.kind, object.metadata.name), never the whole object; no encoding/json, no fmt
// (each would add hundreds of KB to the module).
package main

import (
	"errors"

	"eventcontroller/guest"
)

var (
	prefix   string
	skipKind string
	skipping bool // skip_kind was given (it may be "")
)

func init() {
	guest.OnInit(configure)
	guest.Handle(handle)
}

func configure(config guest.Config) error {
	var err error
	if prefix, _, err = config.String("prefix"); err == nil {
		skipKind, skipping, err = config.String("skip_kind")
	}
	if err != nil {
		return errors.New("config must be an object with optional strings prefix and skip_kind: " + err.Error())
	}
	return nil
}

func handle(event *guest.Event) *guest.Outcome {
	head, err := event.Head()
	switch {
	case err != nil:
		return guest.Error(err.Error())
	case head.HasKind && skipping && head.Kind == skipKind:
		return nil
	case head.HasKind && head.HasName:
		return guest.Info(prefix + "Kind: " + head.Kind + "; Name: " + head.Name)
	case !head.HasKind && !head.HasName:
		return guest.Error("event has no object.kind and no object.metadata.name")
	case !head.HasKind:
		return guest.Error("event has no object.kind")
	default:
		return guest.Error("event has no object.metadata.name")
	}
}

func main() {}
