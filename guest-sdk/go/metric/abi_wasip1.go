//go:build wasip1

package metric

// hostMetric is the host's metric import: the update is passed as (ptr, len); the answer is 0
// when it was recorded, 1 when it was refused.
//
//go:wasmimport event_controller metric
func hostMetric(update string) int32

func transport(update []byte) error {
	if hostMetric(string(update)) != 0 {
		return ErrRefused
	}
	return nil
}
