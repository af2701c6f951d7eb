// Command {{name}} is an event-controller plugin: it logs every watch event at INFO as
// `Kind: {kind}; Name: {name}`.
//
// It is built as a WASI reactor (GOOS=wasip1, -buildmode=c-shared): the runtime runs init,
// which registers the handler, and never runs main. event.Head() reads only the event's
// identity, never the whole object; decode event.Raw() with encoding/json for more.
package main

import "eventcontroller/guest"

func init() {
	guest.Handle(handle)
}

func handle(event *guest.Event) *guest.Outcome {
	head, err := event.Head()
	if err != nil {
		return guest.Error(err.Error())
	}
	if !head.HasKind || !head.HasName {
		return nil // nothing to log
	}
	return guest.Info("Kind: " + head.Kind + "; Name: " + head.Name)
}

func main() {}
