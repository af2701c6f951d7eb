//go:build wasip1

package guest

import "unsafe"

// The exports of guest ABI v1 (docs/ABI.md §2). `memory` and `_initialize` come from the Go
// linker with -buildmode=c-shared. The host calls one export at a time, so no locking is needed.

//go:wasmexport alloc
func wasmAlloc(n int32) unsafe.Pointer { return allocate(n) }

//go:wasmexport dealloc
func wasmDealloc(p unsafe.Pointer, _ int32) { unpin(p) }

//go:wasmexport handle_event
func wasmHandleEvent(p unsafe.Pointer, n int32) int64 {
	return pack(handle(input(p, n)))
}

//go:wasmexport init
func wasmInit(p unsafe.Pointer, n int32) int32 { return initialize(input(p, n)) }

//go:wasmexport ec_abi_version
func wasmABIVersion() int32 { return ABIVersion }

// input is the host's bytes at [p, p+n), a buffer from alloc (still pinned during the call).
func input(p unsafe.Pointer, n int32) []byte {
	if p == nil || n <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

// hostLog is the host's log import; a string parameter is passed as (ptr, len).
//
//go:wasmimport event_controller log
func hostLog(level int32, message string)
