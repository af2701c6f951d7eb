package main

import (
	"testing"

	"eventcontroller/guest"
)

func TestProblems(t *testing.T) {
	policy = settings{}
	for image, want := range map[string]string{
		"nginx":                           "no tag, no digest",
		"nginx:latest":                    "tag latest",
		"nginx:1.27":                      "",
		"nginx@sha256:abc":                "",
		"nginx:latest@sha256:abc":         "",
		"localhost:5000/app":              "no tag, no digest",
		"localhost:5000/app:v1":           "",
		"registry.example.com/shop/x:1":   "",
		"registry.example.com:443/shop/x": "no tag, no digest",
	} {
		if got := problems(image); got != want {
			t.Errorf("%s: %q, want %q", image, got, want)
		}
	}
	policy = settings{AllowedRegistries: []string{"registry.example.com", "ghcr.io/acme"}, RequireDigest: true}
	for image, want := range map[string]string{
		"registry.example.com/shop/x@sha256:1": "",
		"registry.example.com/shop/x:1":        "no digest",
		"ghcr.io/acme/tool@sha256:1":           "",
		"ghcr.io/acmecorp/tool@sha256:1":       "registry ghcr.io not allowed",
		"envoy":                                "no tag, no digest, registry docker.io not allowed",
	} {
		if got := problems(image); got != want {
			t.Errorf("%s: %q, want %q", image, got, want)
		}
	}
}

func TestHandle(t *testing.T) {
	policy = settings{}
	deployment := `{"type":"ADDED","object":{"kind":"Deployment","metadata":{"name":"web","namespace":"shop"},"spec":{"template":{"spec":{` +
		`"initContainers":[{"name":"migrate","image":"busybox"}],` +
		`"containers":[{"name":"web","image":"nginx:latest"},{"name":"sidecar","image":"envoy"},{"name":"ok","image":"redis:7"}]}}}}}`
	want := "Deployment shop/web: container web uses nginx:latest (tag latest); sidecar uses envoy (no tag, no digest); migrate (init) uses busybox (no tag, no digest)"
	if got := handle(guest.NewEvent([]byte(deployment))); got == nil || got.Level != guest.LevelWarn || got.Message != want {
		t.Errorf("got %+v", got)
	}
	for _, quiet := range []string{
		`{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"p","namespace":"n"},"spec":{"containers":[{"name":"c","image":"nginx:1.27"}]}}}`,
		`{"type":"DELETED","object":{"kind":"Pod","metadata":{"name":"p","namespace":"n"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}`,
		`{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"p","namespace":"n"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}`,
	} {
		if got := handle(guest.NewEvent([]byte(quiet))); got != nil {
			t.Errorf("%s: got %+v", quiet, got)
		}
	}
	if configure(guest.NewConfig(`{"allowed_registrys":[]}`)) == nil {
		t.Error("a misspelt key is accepted")
	}
}
