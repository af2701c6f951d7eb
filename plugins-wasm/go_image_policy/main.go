// Command go_image_policy flags Deployments and Pods that run images not pinned to a version:
// one WARN per object, listing the offending containers, e.g.
//
//	Deployment shop/web: container web uses nginx:latest (tag latest); sidecar uses envoy (no tag, no digest)
//
// An image is pinned when it has a digest (@sha256:...) or a tag other than `latest`. Containers
// and initContainers are checked (init containers are marked "(init)"); for a Deployment, those
// of spec.template.spec. Compliant objects and DELETED events produce nothing.
//
// Config (all optional):
//
//	allowed_registries = ["registry.example.com", "ghcr.io/acme"]  # also flag images from elsewhere
//	require_digest = true                                            # also flag tags without a digest
//
// An allowed entry is a registry host (`docker.io` for images without one) or a registry and path
// prefix. The event identity is read first with the SDK's head reader, so events of other kinds
// cost no JSON decoding; Pods and Deployments are decoded with encoding/json into the few fields
// needed.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"eventcontroller/guest"
)

// settings is the plugin's config.
type settings struct {
	AllowedRegistries []string `json:"allowed_registries"`
	RequireDigest     bool     `json:"require_digest"`
}

var policy settings

// event holds the parts of a Pod or Deployment watch event the policy reads.
type event struct {
	Type   string `json:"type"`
	Object struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec struct {
			podSpec           // a Pod's spec
			Template struct { // a Deployment's spec.template
				Spec podSpec `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	} `json:"object"`
}

type podSpec struct {
	Containers     []container `json:"containers"`
	InitContainers []container `json:"initContainers"`
}

type container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

func init() {
	guest.OnInit(configure)
	guest.Handle(handle)
}

func configure(config guest.Config) error {
	decoder := json.NewDecoder(strings.NewReader(config.Raw()))
	decoder.DisallowUnknownFields()
	var s settings
	if err := decoder.Decode(&s); err != nil {
		return errors.New("go_image_policy: config must be {allowed_registries = [strings], require_digest = bool}: " + err.Error())
	}
	for i, entry := range s.AllowedRegistries {
		entry = strings.TrimSuffix(strings.TrimSpace(entry), "/")
		if entry == "" {
			return errors.New("go_image_policy: allowed_registries has an empty entry")
		}
		s.AllowedRegistries[i] = entry
	}
	policy = s
	return nil
}

func handle(ev *guest.Event) *guest.Outcome {
	head, err := ev.Head()
	if err != nil {
		return guest.Error(err.Error())
	}
	if head.Kind != "Pod" && head.Kind != "Deployment" || head.Type == "DELETED" {
		return nil
	}
	var e event
	if err := json.NewDecoder(bytes.NewReader(ev.Raw())).Decode(&e); err != nil {
		return guest.Error("go_image_policy: cannot decode the " + head.Kind + ": " + err.Error())
	}
	spec := &e.Object.Spec.podSpec
	if head.Kind == "Deployment" {
		spec = &e.Object.Spec.Template.Spec
	}
	var findings []string
	for _, c := range spec.Containers {
		if why := problems(c.Image); why != "" {
			findings = append(findings, c.Name+" uses "+c.Image+" ("+why+")")
		}
	}
	for _, c := range spec.InitContainers {
		if why := problems(c.Image); why != "" {
			findings = append(findings, c.Name+" (init) uses "+c.Image+" ("+why+")")
		}
	}
	if len(findings) == 0 {
		return nil
	}
	object := e.Object.Metadata.Name
	if ns := e.Object.Metadata.Namespace; ns != "" {
		object = ns + "/" + object
	}
	return guest.Warn(head.Kind + " " + object + ": container " + strings.Join(findings, "; "))
}

// problems returns why image breaks the policy, comma-separated, or "" when it complies.
func problems(image string) string {
	ref := parse(image)
	var why []string
	switch {
	case ref.digest != "":
	case ref.tag == "":
		why = append(why, "no tag, no digest")
	case ref.tag == "latest":
		why = append(why, "tag latest")
	case policy.RequireDigest:
		why = append(why, "no digest")
	}
	if len(policy.AllowedRegistries) > 0 && !allowed(ref) {
		why = append(why, "registry "+ref.registry+" not allowed")
	}
	return strings.Join(why, ", ")
}

// reference is an image reference split as the container runtime reads it:
// [registry/]repository[:tag][@digest].
type reference struct {
	registry, repository, tag, digest string
}

func parse(image string) reference {
	var ref reference
	name := image
	if at := strings.IndexByte(name, '@'); at >= 0 {
		name, ref.digest = name[:at], name[at+1:]
	}
	// A tag is after the last ':' of the last path component (a registry may have a port).
	if colon := strings.LastIndexByte(name, ':'); colon > strings.LastIndexByte(name, '/') {
		name, ref.tag = name[:colon], name[colon+1:]
	}
	// The first component is a registry when it looks like a host: it has a '.' or a ':' or is
	// localhost. Otherwise the image is on Docker Hub.
	ref.registry, ref.repository = "docker.io", name
	if slash := strings.IndexByte(name, '/'); slash >= 0 {
		if first := name[:slash]; strings.ContainsAny(first, ".:") || first == "localhost" {
			ref.registry, ref.repository = first, name[slash+1:]
		}
	}
	if ref.registry == "index.docker.io" {
		ref.registry = "docker.io"
	}
	return ref
}

// allowed reports whether ref's registry, or registry/repository, starts with an allowed entry.
func allowed(ref reference) bool {
	full := ref.registry + "/" + ref.repository
	for _, entry := range policy.AllowedRegistries {
		if entry == ref.registry || strings.HasPrefix(full, entry+"/") {
			return true
		}
	}
	return false
}

func main() {}
