package guest

import "unsafe"

// pinned holds every buffer handed to the host (alloc's input buffers and handle_event's results)
// until the host passes it back to dealloc. Go's GC does not move heap objects, but it frees
// those no Go value refers to, and a pointer held only by the host is invisible to it: without
// this map the GC could reuse an input buffer while the host is still writing the event into it.
var pinned = map[uintptr][]byte{}

// pin keeps b alive until unpin and returns its address. b must not be empty.
func pin(b []byte) unsafe.Pointer {
	p := unsafe.Pointer(unsafe.SliceData(b))
	pinned[uintptr(p)] = b
	return p
}

// unpin releases a buffer from pin; unknown pointers are ignored.
func unpin(p unsafe.Pointer) { delete(pinned, uintptr(p)) }

// allocate returns n fresh bytes, pinned. The ABI never asks for 0 bytes; a request of 0 or less
// still gets a unique, valid pointer.
func allocate(n int32) unsafe.Pointer { return pin(make([]byte, max(n, 1))) }

// pack packs a result buffer as handle_event returns it: (ptr << 32) | len; 0 for none.
func pack(result []byte) int64 {
	if len(result) == 0 {
		return 0
	}
	ptr := uint32(uintptr(pin(result)))
	return int64(uint64(ptr)<<32 | uint64(uint32(len(result))))
}

// TakeHostBuffer returns the buffer a host import answered with, packed as (ptr << 32) | len,
// and releases it: the host allocated it with this module's alloc, so it is pinned, and taking
// it is the plugin's dealloc of it. The bytes stay valid for Go (they are an ordinary slice). It
// returns false for 0 (no answer) or for a pointer alloc did not hand out. For subpackages such
// as eventcontroller/guest/kube, which call host imports that answer this way.
func TakeHostBuffer(packed int64) ([]byte, bool) {
	ptr, n := uintptr(uint64(packed)>>32), int(uint32(packed))
	b, ok := pinned[ptr]
	if !ok || n > len(b) {
		return nil, false
	}
	delete(pinned, ptr)
	return b[:n], true
}
