// Command go_replicator copies one source ConfigMap into every namespace whose labels match a
// selector, and keeps the copies in step (see README.md):
//
//	{"source": {"namespace": "platform", "name": "ca-bundle"},
//	 "namespace_selector": {"ca-bundle": "wanted"},
//	 "owner": "go-replicator"}
//
// It reads and writes through the host's kube_request capability (eventcontroller/guest/kube),
// compares before it writes (no write when a copy already equals the source, so re-deliveries,
// restarts and the events of its own writes cost reads only), marks every copy with the owner
// label app.kubernetes.io/managed-by=OWNER, and never writes to a ConfigMap without that label.
// When the source is deleted, the copies stay.
//
// It counts what it does with each copy in the counter configmap_copies (exported as
// event_controller_plugin_configmap_copies_total{plugin="...",action="..."}), with action one of
// created, updated, deleted, unchanged and left_alone (eventcontroller/guest/metric).
package main

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"eventcontroller/guest"
	"eventcontroller/guest/kube"
	"eventcontroller/guest/metric"
)

// SourceAnnotation, on every copy, names the ConfigMap it was copied from ("namespace/name").
const SourceAnnotation = "event-controller.io/replicated-from"

// CopiesMetric is the counter of the copies the plugin handled, by the label action: one of
// Actions.
const CopiesMetric = "configmap_copies"

const copiesHelp = "ConfigMap copies handled, by action: created, updated (applied from the source), " +
	"deleted (its namespace stopped matching), unchanged (already equal to the source), " +
	"left_alone (a same-named ConfigMap without the owner label)"

// The actions, the values of CopiesMetric's label action.
const (
	ActionCreated   = "created"
	ActionUpdated   = "updated"
	ActionDeleted   = "deleted"
	ActionUnchanged = "unchanged"
	ActionLeftAlone = "left_alone"
)

// Actions are every action, in the order the counts are sent.
var Actions = []string{ActionCreated, ActionUpdated, ActionDeleted, ActionUnchanged, ActionLeftAlone}

// settings is the plugin's config.
type settings struct {
	Source struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"source"`
	NamespaceSelector map[string]string `json:"namespace_selector"`
	Owner             string            `json:"owner"`
}

var cfg settings

func init() {
	guest.OnInit(configure)
	guest.Handle(handle)
}

func main() {}

func configure(c guest.Config) error {
	var s settings
	decoder := json.NewDecoder(strings.NewReader(c.Raw()))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&s); err != nil {
		return errors.New("go_replicator: the config cannot be read: " + err.Error())
	}
	if s.Source.Namespace == "" || s.Source.Name == "" {
		return errors.New(`go_replicator: the config needs "source": {"namespace": "...", "name": "..."}`)
	}
	if len(s.NamespaceSelector) == 0 {
		return errors.New(`go_replicator: the config needs a "namespace_selector" of at least one label, e.g. {"team": "a"}`)
	}
	if s.Owner == "" {
		s.Owner = "go-replicator"
	}
	cfg = s
	// Every series from the start, at 0 (adding 0 to what the host kept over a reload), so that
	// rates and alerts see 0 rather than no series; the first update also declares the help.
	for _, action := range Actions {
		metric.Counter(CopiesMetric, copiesHelp, metric.Labels{"action": action}, 0)
	}
	return nil
}

// object holds what the plugin reads of a Namespace or ConfigMap event.
type object struct {
	Metadata struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Data       map[string]string `json:"data"`
	BinaryData map[string]string `json:"binaryData"`
}

func handle(ev *guest.Event) *guest.Outcome {
	head, err := ev.Head()
	if err != nil {
		return guest.Error(err.Error())
	}
	// Cheap filters first: only Namespaces and ConfigMaps of the source's name matter.
	switch {
	case head.Kind == "Namespace" && head.Name != cfg.Source.Namespace && head.Type != "DELETED":
	case head.Kind == "ConfigMap" && head.Name == cfg.Source.Name:
	default:
		return nil
	}
	var e struct {
		Object object `json:"object"`
	}
	if err := json.Unmarshal(ev.Raw(), &e); err != nil {
		return guest.Error("the event cannot be read: " + err.Error())
	}
	r := &report{}
	switch {
	case head.Kind == "Namespace":
		r.namespace(head.Name, matches(e.Object.Metadata.Labels))
	case head.Namespace == cfg.Source.Namespace:
		if head.Type == "DELETED" {
			return guest.Info("source " + source() + " deleted: its copies stay")
		}
		r.everywhere(&e.Object)
	default:
		r.copyEvent(head.Type, head.Namespace, &e.Object)
	}
	r.countActions()
	return r.outcome()
}

// report gathers what one event did, for one log line and the metric.
type report struct {
	lines   []string
	level   guest.Level
	retry   bool
	actions map[string]int // copies handled, by action
}

// done counts one copy handled with action.
func (r *report) done(action string) {
	if r.actions == nil {
		r.actions = map[string]int{}
	}
	r.actions[action]++
}

// countActions adds the event's counts to CopiesMetric: one update per action that happened.
func (r *report) countActions() {
	for _, action := range Actions {
		if n := r.actions[action]; n > 0 {
			metric.Counter(CopiesMetric, copiesHelp, metric.Labels{"action": action}, float64(n))
		}
	}
}

func (r *report) say(level guest.Level, line string) {
	r.lines = append(r.lines, line)
	if level > r.level {
		r.level = level
	}
}

// fail records an error; a transient one (a timeout, a throttled write, a 5xx) asks for a retry.
func (r *report) fail(what string, err error) {
	if kube.IsTransient(err) {
		r.retry = true
		r.say(guest.LevelWarn, what+": "+err.Error()+"; will retry")
		return
	}
	r.say(guest.LevelError, what+": "+err.Error())
}

func (r *report) outcome() *guest.Outcome {
	if len(r.lines) == 0 {
		if r.retry {
			return (*guest.Outcome)(nil).WithRetry()
		}
		return nil
	}
	o := &guest.Outcome{Level: r.level, Message: strings.Join(r.lines, "; ")}
	if r.retry {
		o = o.WithRetry()
	}
	return o
}

func source() string { return cfg.Source.Namespace + "/" + cfg.Source.Name }

func matches(labels map[string]string) bool {
	for k, v := range cfg.NamespaceSelector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// everywhere copies the source into every matching namespace.
func (r *report) everywhere(src *object) {
	resp, err := kube.List("namespaces").WithLabelSelector(kube.SelectorOf(cfg.NamespaceSelector)).Send()
	if err == nil && !resp.IsSuccess() {
		err = &kube.StatusError{Verb: "list", Resource: "namespaces", Status: resp.Status, Message: resp.Message}
	}
	if err != nil {
		r.fail("listing the matching namespaces", err)
		return
	}
	var names []string
	for _, ns := range resp.Items {
		if _, name := kube.Metadata(ns); name != "" && name != cfg.Source.Namespace && matches(kube.Labels(ns)) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, ns := range names {
		r.ensure(ns, src)
	}
	if len(r.lines) == 0 {
		r.say(guest.LevelDebug, "source "+source()+": "+itoa(r.actions[ActionUnchanged])+" copies up to date")
	}
}

// namespace handles a Namespace event: a copy when it matches, none (if ours) when it does not.
func (r *report) namespace(ns string, matching bool) {
	if !matching {
		r.remove(ns, "namespace "+ns+" does not match")
		return
	}
	if src, ok := r.source(); ok {
		r.ensure(ns, src)
	}
}

// copyEvent handles an event of a ConfigMap named like the source in another namespace: ours
// is kept equal to the source (recreated when deleted) while its namespace matches, and removed
// when it no longer does; anyone else's is left alone.
func (r *report) copyEvent(eventType, ns string, cm *object) {
	owned := cm.Metadata.Labels[kube.OwnerLabel] == cfg.Owner
	got, err := kube.Get("namespaces", ns).Send()
	if err != nil {
		r.fail("reading namespace "+ns, err)
		return
	}
	if got.Status == 404 {
		return // the namespace is going; so is the copy
	}
	if !got.IsSuccess() {
		r.fail("reading namespace "+ns, &kube.StatusError{Verb: "get", Resource: "namespaces", Name: ns, Status: got.Status, Message: got.Message})
		return
	}
	matching := matches(kube.Labels(got.Object))
	switch {
	case !owned && eventType == "DELETED":
	case !owned:
		if matching {
			r.done(ActionLeftAlone)
			r.say(guest.LevelWarn, "ConfigMap "+ns+"/"+cfg.Source.Name+" is not managed by "+cfg.Owner+" (no label "+kube.OwnerSelector(cfg.Owner)+"): left alone")
		}
	case !matching:
		if eventType != "DELETED" {
			r.remove(ns, "namespace "+ns+" does not match")
		}
	default:
		if src, ok := r.source(); ok {
			r.ensure(ns, src)
		}
	}
}

// source reads the source ConfigMap; false when it cannot be had (absent: nothing to copy).
func (r *report) source() (*object, bool) {
	got, err := kube.Get("configmaps", cfg.Source.Name).InNamespace(cfg.Source.Namespace).Send()
	if err != nil {
		r.fail("reading the source "+source(), err)
		return nil, false
	}
	if got.Status == 404 {
		r.say(guest.LevelDebug, "the source "+source()+" does not exist: nothing to copy")
		return nil, false
	}
	if !got.IsSuccess() {
		r.fail("reading the source "+source(), &kube.StatusError{Verb: "get", Resource: "configmaps", Namespace: cfg.Source.Namespace, Name: cfg.Source.Name, Status: got.Status, Message: got.Message})
		return nil, false
	}
	var src object
	if err := got.DecodeObject(&src); err != nil {
		r.fail("reading the source "+source(), err)
		return nil, false
	}
	return &src, true
}

// Desired is the copy of src in namespace ns.
func Desired(ns string, src *object) kube.Object {
	copied := kube.Object{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":        cfg.Source.Name,
			"namespace":   ns,
			"labels":      map[string]any{kube.OwnerLabel: cfg.Owner},
			"annotations": map[string]any{SourceAnnotation: source()},
		},
		"data": stringMap(src.Data),
	}
	if len(src.BinaryData) > 0 {
		copied["binaryData"] = stringMap(src.BinaryData)
	}
	return copied
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (r *report) ensure(ns string, src *object) {
	where := ns + "/" + cfg.Source.Name
	result, err := kube.Ensure("configmaps", Desired(ns, src), cfg.Owner)
	switch {
	case err != nil:
		r.fail("copying "+source()+" to "+ns, err)
	case result == kube.NotOwned:
		r.done(ActionLeftAlone)
		r.say(guest.LevelWarn, "ConfigMap "+where+" is not managed by "+cfg.Owner+" (no label "+kube.OwnerSelector(cfg.Owner)+"): left alone")
	case result == kube.Created:
		r.done(ActionCreated)
		r.say(guest.LevelInfo, "copied "+source()+" to "+where)
	case result == kube.Applied:
		r.done(ActionUpdated)
		r.say(guest.LevelInfo, "updated "+where+" from "+source())
	default:
		r.done(ActionUnchanged)
	}
}

func (r *report) remove(ns, why string) {
	result, err := kube.RemoveOwned("configmaps", ns, cfg.Source.Name, cfg.Owner)
	switch {
	case err != nil:
		r.fail("removing "+ns+"/"+cfg.Source.Name, err)
	case result == kube.Deleted:
		r.done(ActionDeleted)
		r.say(guest.LevelInfo, why+": removed its copy "+ns+"/"+cfg.Source.Name)
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
