//go:build wasip1

package kube

import (
	"errors"

	"eventcontroller/guest"
)

// hostKubeRequest is the host's kube_request import: the request is passed as (ptr, len); the
// answer is (ptr << 32) | len of a buffer the host allocated with the module's alloc.
//
//go:wasmimport event_controller kube_request
func hostKubeRequest(request string) int64

func exchange(request []byte) ([]byte, error) {
	packed := hostKubeRequest(string(request))
	answer, ok := guest.TakeHostBuffer(packed)
	if !ok {
		return nil, errors.New("the host's kube_request returned no answer")
	}
	return answer, nil
}
