package kube

import (
	"errors"
	"reflect"
)

// OwnerLabel marks the objects a plugin manages: its value is the owner's name. Give the plugin's
// grant the matching label_selector ("app.kubernetes.io/managed-by=OWNER") and the host refuses
// every write to an object that is not marked.
const OwnerLabel = "app.kubernetes.io/managed-by"

// OwnerSelector is the label selector of owner's objects: "app.kubernetes.io/managed-by=OWNER".
func OwnerSelector(owner string) string { return OwnerLabel + "=" + owner }

// Owns is true when object carries OwnerLabel with the value owner.
func Owns(object Object, owner string) bool {
	v, ok := Labels(object)[OwnerLabel]
	return ok && v == owner
}

// Labels returns object's metadata.labels (nil when it has none).
func Labels(object Object) map[string]string {
	meta, _ := object["metadata"].(map[string]any)
	raw, _ := meta["labels"].(map[string]any)
	if raw == nil {
		return nil
	}
	labels := make(map[string]string, len(raw))
	for k, v := range raw {
		if s, ok := v.(string); ok {
			labels[k] = s
		}
	}
	return labels
}

// Metadata returns object's metadata.namespace and metadata.name.
func Metadata(object Object) (namespace, name string) {
	meta, _ := object["metadata"].(map[string]any)
	namespace, _ = meta["namespace"].(string)
	name, _ = meta["name"].(string)
	return namespace, name
}

// Result is what Ensure or RemoveOwned did.
type Result int

// The results.
const (
	Unchanged Result = iota // the object already had the desired fields: nothing was written
	Created                 // it did not exist and was created
	Applied                 // it was ours and differed: the desired fields were applied
	NotOwned                // it exists without our owner label: left alone
	Deleted                 // RemoveOwned deleted it
	Absent                  // RemoveOwned found nothing to delete
)

// String names the result: unchanged, created, applied, not owned, deleted, absent.
func (r Result) String() string {
	return [...]string{"unchanged", "created", "applied", "not owned", "deleted", "absent"}[r]
}

// Wrote is true when the result is a write: Created, Applied or Deleted.
func (r Result) Wrote() bool { return r == Created || r == Applied || r == Deleted }

// StatusError is an API server refusal met by Ensure or RemoveOwned.
type StatusError struct {
	Verb, Resource, Namespace, Name string
	Status                          int
	Message                         string
}

func (e *StatusError) Error() string {
	where := e.Name
	if e.Namespace != "" {
		where = e.Namespace + "/" + e.Name
	}
	return e.Verb + " " + e.Resource + " " + where + ": the API server answered " + itoa(e.Status) + ": " + e.Message
}

// Ensure makes the object desired exist with the desired fields, writing only when needed, and
// never touching an object it does not own. desired names the object (metadata.name, and
// metadata.namespace for a namespaced resource) and carries apiVersion and kind.
//
//   - It reads the object (get). Absent (404): it creates desired with the owner label and
//     returns Created.
//   - Present without the owner label: it writes nothing and returns NotOwned.
//   - Ours: it compares the desired fields with the object's. Every member desired sets must
//     have the desired value, recursively for objects (a desired {"data":{"a":"1"}} is met by
//     {"data":{"a":"1","b":"2"}}); arrays and scalars must be equal. metadata is compared on its
//     labels and annotations only. Equal: Unchanged, no write. Different: it applies desired
//     (server-side apply with force, with the owner label) and returns Applied.
//
// A request the host refused is returned as its *Error, and an API server refusal as a
// *StatusError. Compare-before-write makes Ensure safe to call on every event, its own writes'
// events included: the second call finds nothing to do.
//
// Limitation: a member removed from desired is not removed from the object (it still meets the
// comparison, and server-side apply does not remove what create set); delete the object to
// start again.
func Ensure(resource string, desired Object, owner string) (Result, error) {
	namespace, name := Metadata(desired)
	if name == "" {
		return Unchanged, errors.New("kube.Ensure: desired has no metadata.name")
	}
	got, err := Get(resource, name).InNamespace(namespace).Send()
	if err != nil {
		return Unchanged, err
	}
	object := withOwner(desired, owner)
	switch {
	case got.Status == 404:
		resp, err := Create(resource, object).InNamespace(namespace).Send()
		if err != nil {
			return Unchanged, err
		}
		if !resp.IsSuccess() {
			return Unchanged, refusal("create", resource, namespace, name, resp)
		}
		return Created, nil
	case !got.IsSuccess():
		return Unchanged, refusal("get", resource, namespace, name, got)
	case !Owns(got.Object, owner):
		return NotOwned, nil
	case Meets(got.Object, object):
		return Unchanged, nil
	}
	// Forced: the object is ours (its owner label says so), and the fields to restore are held
	// by create's own field manager entry (an Update, which a plain apply conflicts with: 409
	// on a real API server) or by whoever edited them.
	resp, err := Apply(resource, object).InNamespace(namespace).WithForce().Send()
	if err != nil {
		return Unchanged, err
	}
	if !resp.IsSuccess() {
		return Unchanged, refusal("apply", resource, namespace, name, resp)
	}
	return Applied, nil
}

// RemoveOwned deletes the object name of resource only when it carries owner's label: Deleted,
// Absent when there is none, NotOwned (no write) when it is someone else's.
func RemoveOwned(resource, namespace, name, owner string) (Result, error) {
	got, err := Get(resource, name).InNamespace(namespace).Send()
	switch {
	case err != nil:
		return Unchanged, err
	case got.Status == 404:
		return Absent, nil
	case !got.IsSuccess():
		return Unchanged, refusal("get", resource, namespace, name, got)
	case !Owns(got.Object, owner):
		return NotOwned, nil
	}
	resp, err := Delete(resource, name).InNamespace(namespace).Send()
	switch {
	case err != nil:
		return Unchanged, err
	case resp.Status == 404:
		return Absent, nil
	case !resp.IsSuccess():
		return Unchanged, refusal("delete", resource, namespace, name, resp)
	}
	return Deleted, nil
}

// Meets is true when current has every field of desired, as Ensure compares them.
func Meets(current, desired Object) bool {
	var normalized Object
	if Decode(desired, &normalized) == nil {
		desired = normalized
	}
	for k, want := range desired {
		if k == "metadata" {
			dm, _ := want.(map[string]any)
			cm, _ := current["metadata"].(map[string]any)
			for _, part := range []string{"labels", "annotations"} {
				if w, ok := dm[part]; ok && !subset(cm[part], w) {
					return false
				}
			}
			continue
		}
		if !subset(current[k], want) {
			return false
		}
	}
	return true
}

// subset: every member of a desired object is in got with a matching value; other values equal.
func subset(got, want any) bool {
	wm, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(got, want)
	}
	gm, ok := got.(map[string]any)
	if !ok {
		return len(wm) == 0 && got == nil
	}
	for k, w := range wm {
		if !subset(gm[k], w) {
			return false
		}
	}
	return true
}

// withOwner is a copy of desired whose metadata.labels carry the owner label.
func withOwner(desired Object, owner string) Object {
	out := make(Object, len(desired))
	for k, v := range desired {
		out[k] = v
	}
	meta := map[string]any{}
	if m, ok := desired["metadata"].(map[string]any); ok {
		for k, v := range m {
			meta[k] = v
		}
	}
	labels := map[string]any{}
	switch l := meta["labels"].(type) {
	case map[string]any:
		for k, v := range l {
			labels[k] = v
		}
	case map[string]string:
		for k, v := range l {
			labels[k] = v
		}
	}
	labels[OwnerLabel] = owner
	meta["labels"] = labels
	out["metadata"] = meta
	return out
}

func refusal(verb, resource, namespace, name string, r *Response) error {
	return &StatusError{verb, resource, namespace, name, r.Status, r.Message}
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
