// Package kube is the Go side of the host's kube_request capability (docs/ABI.md §6): Kubernetes
// reads and writes with the controller's credentials, limited to the verbs, resources,
// namespaces and labels the operator granted the plugin in
// [plugins.NAME.capabilities.kubernetes].
//
//	resp, err := kube.Get("configmaps", "settings").InNamespace("shop").Send()
//	switch {
//	case err != nil: // the host did not ask the API server: err.(*kube.Error).Reason
//	case resp.Status == 404:
//	case resp.IsSuccess(): // resp.Object is the ConfigMap
//	}
//
// It is a package of its own, apart from eventcontroller/guest, because it uses encoding/json,
// which adds ~2.5 MB to a module: plugins that do not import it do not pay for it.
//
// Built natively (go test) there is no host: Send goes to the transport a test installs with
// SetMock, or to a FakeCluster (see mock_other.go).
package kube

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"
)

// Object is a Kubernetes object as decoded JSON.
type Object = map[string]any

// Request is one kube_request, as the plugin hands it to the host. Fields a verb does not use
// stay empty and are left out of the JSON.
type Request struct {
	Verb          string `json:"verb"`                     // get, list, create, apply, patch or delete
	Resource      string `json:"resource"`                 // as granted, e.g. configmaps, routes.route.openshift.io
	Namespace     string `json:"namespace,omitempty"`      // empty: cluster-scoped (or, for list, all namespaces)
	Name          string `json:"name,omitempty"`           // get, patch, delete
	Patch         any    `json:"patch,omitempty"`          // patch: an RFC 7386 merge patch
	Object        any    `json:"object,omitempty"`         // create, apply
	LabelSelector string `json:"label_selector,omitempty"` // list
	FieldSelector string `json:"field_selector,omitempty"` // list
	Force         bool   `json:"force,omitempty"`          // apply: take over fields another manager owns
}

// Get reads the object name of resource (granted under read).
func Get(resource, name string) *Request {
	return &Request{Verb: "get", Resource: resource, Name: name}
}

// List lists resource (granted under read), every page; narrow it with InNamespace,
// WithLabelSelector and WithFieldSelector.
func List(resource string) *Request { return &Request{Verb: "list", Resource: resource} }

// Create creates object; its metadata names it (and its namespace, or use InNamespace).
func Create(resource string, object any) *Request {
	return &Request{Verb: "create", Resource: resource, Object: object}
}

// Apply server-side applies object (with metadata.name) under the plugin's field manager.
func Apply(resource string, object any) *Request {
	return &Request{Verb: "apply", Resource: resource, Object: object}
}

// Patch merge-patches (RFC 7386: null removes a field) the object name of resource.
func Patch(resource, name string, patch any) *Request {
	return &Request{Verb: "patch", Resource: resource, Name: name, Patch: patch}
}

// Delete deletes the object name of resource.
func Delete(resource, name string) *Request {
	return &Request{Verb: "delete", Resource: resource, Name: name}
}

// InNamespace sets the namespace.
func (r *Request) InNamespace(namespace string) *Request { r.Namespace = namespace; return r }

// WithLabelSelector sets a list's label selector (e.g. "team=a,tier!=db").
func (r *Request) WithLabelSelector(selector string) *Request { r.LabelSelector = selector; return r }

// WithFieldSelector sets a list's field selector (e.g. "metadata.name=web").
func (r *Request) WithFieldSelector(selector string) *Request { r.FieldSelector = selector; return r }

// WithForce lets an apply take over fields another field manager owns.
func (r *Request) WithForce() *Request { r.Force = true; return r }

// JSON is the request as handed to the host.
func (r *Request) JSON() ([]byte, error) { return json.Marshal(r) }

// Send hands the request to the host and waits for its answer: see the package function Send.
func (r *Request) Send() (*Response, error) { return Send(r) }

// Response is the API server's answer. Any status is a response, its refusals (403, 404, 409,
// 422, 5xx) included: check IsSuccess.
type Response struct {
	Status  int      `json:"status"`
	Object  Object   `json:"object,omitempty"`  // the object read, created, applied, patched or deleted
	Items   []Object `json:"items,omitempty"`   // a list's objects, every page
	Message string   `json:"message,omitempty"` // a refusal's Status message
}

// IsSuccess is true for a 2xx status.
func (r *Response) IsSuccess() bool { return r.Status >= 200 && r.Status < 300 }

// IsTransient is true for a status that may be different later: 5xx, 408 and 429.
func (r *Response) IsTransient() bool { return IsTransientStatus(r.Status) }

// DecodeObject decodes Object into v (a struct of the fields you need).
func (r *Response) DecodeObject(v any) error { return Decode(r.Object, v) }

// IsTransientStatus is true for 5xx, 408 and 429.
func IsTransientStatus(status int) bool { return status >= 500 || status == 408 || status == 429 }

// Decode converts a decoded object (or any JSON value) into v through JSON.
func Decode(object any, v any) error {
	raw, err := json.Marshal(object)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// Failure classifies why the host gave no response, from the start of its reason (ABI.md §6,
// "Why no response came").
type Failure int

// The failures.
const (
	Unreachable Failure = iota // anything else: a refused connection, a timeout; retry
	Denied                     // "denied", "unknown verb": not granted; do not retry
	Throttled                  // "throttled": over max_writes_per_second; retry later
	Invalid                    // "malformed request", "invalid request": a bug; do not retry
	Unavailable                // "no Kubernetes connection" (replay), "env var ", "cannot read "
)

// Error is a request the host did not put to the API server; Reason is the host's reason,
// whose first words say why (ABI.md §6).
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

// Failure classifies the reason by its prefix.
func (e *Error) Failure() Failure { return FailureOf(e.Reason) }

// IsTransient is true when a retry may help: Unreachable and Throttled.
func (e *Error) IsTransient() bool {
	f := e.Failure()
	return f == Unreachable || f == Throttled
}

// FailureOf classifies a host reason by the prefixes of ABI.md §6.
func FailureOf(reason string) Failure {
	for _, p := range []struct {
		prefix  string
		failure Failure
	}{
		{"denied", Denied},
		{"unknown verb", Denied},
		{"throttled", Throttled},
		{"malformed request", Invalid},
		{"invalid request", Invalid},
		{"env var ", Unavailable},
		{"cannot read ", Unavailable},
		{"no Kubernetes connection", Unavailable},
	} {
		if strings.HasPrefix(reason, p.prefix) {
			return p.failure
		}
	}
	return Unreachable
}

// IsTransient is true when err may pass on a retry: a transient *Error or *StatusError.
func IsTransient(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.IsTransient()
	}
	var s *StatusError
	if errors.As(err, &s) {
		return IsTransientStatus(s.Status)
	}
	return false
}

// Send hands the request to the host's kube_request import and reads its answer:
//
//   - a response for any status the API server answered with (refusals included);
//   - an *Error when the host did not ask the API server (not granted, throttled, no cluster
//     connection, a timeout): its Reason starts with the prefixes of ABI.md §6;
//   - another error when the request cannot be encoded or the answer cannot be read.
func Send(r *Request) (*Response, error) {
	req, err := r.JSON()
	if err != nil {
		return nil, errors.New("kube_request: cannot encode the request: " + err.Error())
	}
	answer, err := exchange(req)
	if err != nil {
		return nil, err
	}
	return parseAnswer(answer)
}

func parseAnswer(answer []byte) (*Response, error) {
	var a struct {
		Error  *string `json:"error"`
		Status *int    `json:"status"`
		Response
	}
	if err := json.Unmarshal(answer, &a); err != nil {
		return nil, errors.New("the host's kube_request answer cannot be read: " + err.Error())
	}
	if a.Error != nil {
		return nil, &Error{*a.Error}
	}
	if a.Status == nil {
		return nil, errors.New("the host's kube_request answer has no status")
	}
	a.Response.Status = *a.Status
	return &a.Response, nil
}

// SelectorOf writes the equality label selector of labels: "k1=v1,k2=v2", keys sorted.
func SelectorOf(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return strings.Join(parts, ",")
}
