//go:build !wasip1

package kube

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"sync"
)

// Built natively there is no host: Send goes to the transport installed with SetMock, as the
// Rust SDK's kube::mock does. It fails without one.

var (
	mockMu sync.Mutex
	mock   func(*Request) string
)

// SetMock installs transport as the host's kube_request for native builds (go test): it gets
// each request and returns the answer's JSON, best written with Respond, RespondList, Refuse or
// Fail. Call the returned function to remove it (defer it in the test).
func SetMock(transport func(*Request) string) (restore func()) {
	mockMu.Lock()
	previous := mock
	mock = transport
	mockMu.Unlock()
	return func() {
		mockMu.Lock()
		mock = previous
		mockMu.Unlock()
	}
}

func exchange(request []byte) ([]byte, error) {
	mockMu.Lock()
	transport := mock
	mockMu.Unlock()
	if transport == nil {
		return nil, errors.New("kube_request outside wasm: install a transport with kube.SetMock")
	}
	var r Request
	if err := json.Unmarshal(request, &r); err != nil {
		return nil, err
	}
	return []byte(transport(&r)), nil
}

// Respond is the answer {"status":status,"object":object}.
func Respond(status int, object any) string {
	return marshal(map[string]any{"status": status, "object": object})
}

// RespondList is a list's answer {"status":200,"items":[...]}.
func RespondList(items ...any) string {
	if items == nil {
		items = []any{}
	}
	return marshal(map[string]any{"status": 200, "items": items})
}

// Refuse is an API server refusal {"status":status,"message":message}.
func Refuse(status int, message string) string {
	return marshal(map[string]any{"status": status, "message": message})
}

// Fail is the host's refusal {"error":reason}: start reason with the prefixes of ABI.md §6
// ("denied: ...", "throttled: ...").
func Fail(reason string) string { return marshal(map[string]any{"error": reason}) }

func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("kube mock: " + err.Error())
	}
	return string(b)
}

// FakeCluster is an in-memory API server for unit tests: objects by resource, namespace and name,
// with get, list (namespace and equality label selectors: k=v, k!=v, k, !k), create (409 when
// present), apply (creates, or merges the object's members into the stored one), patch (an RFC
// 7386 merge) and delete. Every request is recorded; Fail makes chosen requests fail.
type FakeCluster struct {
	mu       sync.Mutex
	objects  map[string]Object // resource + "\x00" + namespace + "\x00" + name
	requests []Request
	version  int
	// Intercept, when set, sees every request first: a non-empty answer is returned instead.
	Intercept func(*Request) string
}

// NewFakeCluster makes an empty cluster.
func NewFakeCluster() *FakeCluster { return &FakeCluster{objects: map[string]Object{}} }

// Install makes the cluster the transport (SetMock); call the returned function to remove it.
func (c *FakeCluster) Install() (restore func()) { return SetMock(c.serve) }

func key(resource, namespace, name string) string {
	return resource + "\x00" + namespace + "\x00" + name
}

// Put stores object (JSON text or an Object) as is, without recording a request.
func (c *FakeCluster) Put(resource string, object any) {
	var o Object
	if s, ok := object.(string); ok {
		if err := json.Unmarshal([]byte(s), &o); err != nil {
			panic("FakeCluster.Put: " + err.Error())
		}
	} else if err := Decode(object, &o); err != nil {
		panic("FakeCluster.Put: " + err.Error())
	}
	ns, name := Metadata(o)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.objects[key(resource, ns, name)] = o
}

// Object returns the stored object (nil when absent).
func (c *FakeCluster) Object(resource, namespace, name string) Object {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.objects[key(resource, namespace, name)]
}

// Remove deletes an object without recording a request (someone else's delete).
func (c *FakeCluster) Remove(resource, namespace, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.objects, key(resource, namespace, name))
}

// Requests returns the requests served so far.
func (c *FakeCluster) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.requests...)
}

// Writes returns the write requests served so far (create, apply, patch, delete), as
// "verb resource namespace/name".
func (c *FakeCluster) Writes() []string {
	var out []string
	for _, r := range c.Requests() {
		if r.Verb == "get" || r.Verb == "list" {
			continue
		}
		ns, name := r.Namespace, r.Name
		if o, ok := r.Object.(map[string]any); ok {
			if n, m := Metadata(o); m != "" {
				name = m
				if n != "" {
					ns = n
				}
			}
		}
		out = append(out, r.Verb+" "+r.Resource+" "+ns+"/"+name)
	}
	return out
}

// ClearRequests forgets the requests recorded so far.
func (c *FakeCluster) ClearRequests() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = nil
}

func (c *FakeCluster) serve(r *Request) string {
	c.mu.Lock()
	c.requests = append(c.requests, *r)
	intercept := c.Intercept
	c.mu.Unlock()
	if intercept != nil {
		if answer := intercept(r); answer != "" {
			return answer
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r.Verb {
	case "get":
		if o, ok := c.objects[key(r.Resource, r.Namespace, r.Name)]; ok {
			return Respond(200, o)
		}
		return Refuse(404, r.Resource+" \""+r.Name+"\" not found")
	case "list":
		sel, err := parseSelector(r.LabelSelector)
		if err != nil {
			return Refuse(400, err.Error())
		}
		var keys []string
		for k, o := range c.objects {
			ns, _ := Metadata(o)
			if strings.HasPrefix(k, r.Resource+"\x00") && (r.Namespace == "" || ns == r.Namespace) && sel(Labels(o)) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		items := make([]any, len(keys))
		for i, k := range keys {
			items[i] = c.objects[k]
		}
		return RespondList(items...)
	case "create", "apply":
		var o Object
		if err := Decode(r.Object, &o); err != nil || o == nil {
			return Fail("malformed request: no object")
		}
		ns, name := Metadata(o)
		if ns == "" {
			ns = r.Namespace
		}
		k := key(r.Resource, ns, name)
		old, exists := c.objects[k]
		if r.Verb == "create" && exists {
			return Refuse(409, r.Resource+" \""+name+"\" already exists")
		}
		if exists {
			o = merge(old, o, false).(map[string]any)
		}
		c.stamp(o, ns)
		c.objects[k] = o
		if exists {
			return Respond(200, o)
		}
		return Respond(201, o)
	case "patch":
		k := key(r.Resource, r.Namespace, r.Name)
		old, ok := c.objects[k]
		if !ok {
			return Refuse(404, r.Resource+" \""+r.Name+"\" not found")
		}
		var p any
		if err := Decode(r.Patch, &p); err != nil {
			return Fail("malformed request: no patch")
		}
		o, _ := merge(old, p, true).(map[string]any)
		c.stamp(o, r.Namespace)
		c.objects[k] = o
		return Respond(200, o)
	case "delete":
		k := key(r.Resource, r.Namespace, r.Name)
		o, ok := c.objects[k]
		if !ok {
			return Refuse(404, r.Resource+" \""+r.Name+"\" not found")
		}
		delete(c.objects, k)
		return Respond(200, o)
	}
	return Fail("unknown verb " + r.Verb)
}

// stamp sets the namespace and a new resourceVersion, as the API server does.
func (c *FakeCluster) stamp(o Object, namespace string) {
	c.version++
	meta, _ := o["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		o["metadata"] = meta
	}
	if namespace != "" {
		meta["namespace"] = namespace
	}
	meta["resourceVersion"] = itoa(c.version)
}

// merge merges patch into base: objects member by member; with nullDeletes (RFC 7386), a null
// removes the member.
func merge(base, patch any, nullDeletes bool) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	bm, _ := base.(map[string]any)
	out := map[string]any{}
	for k, v := range bm {
		out[k] = v
	}
	for k, v := range pm {
		if v == nil && nullDeletes {
			delete(out, k)
			continue
		}
		out[k] = merge(out[k], v, nullDeletes)
	}
	return out
}

// parseSelector reads an equality-based label selector.
func parseSelector(selector string) (func(map[string]string) bool, error) {
	var tests []func(map[string]string) bool
	for _, term := range strings.Split(selector, ",") {
		term = strings.TrimSpace(term)
		switch {
		case term == "":
		case strings.Contains(term, "!="):
			k, v, _ := strings.Cut(term, "!=")
			tests = append(tests, func(l map[string]string) bool { return l[k] != v || !has(l, k) })
		case strings.Contains(term, "="):
			k, v, _ := strings.Cut(strings.Replace(term, "==", "=", 1), "=")
			tests = append(tests, func(l map[string]string) bool { return has(l, k) && l[k] == v })
		case strings.HasPrefix(term, "!"):
			k := term[1:]
			tests = append(tests, func(l map[string]string) bool { return !has(l, k) })
		case strings.ContainsAny(term, " ()"):
			return nil, errors.New("unsupported label selector " + selector)
		default:
			tests = append(tests, func(l map[string]string) bool { return has(l, term) })
		}
	}
	return func(l map[string]string) bool {
		for _, t := range tests {
			if !t(l) {
				return false
			}
		}
		return true
	}, nil
}

func has(l map[string]string, k string) bool { _, ok := l[k]; return ok }
