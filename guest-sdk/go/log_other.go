//go:build !wasip1

package guest

import "os"

// hostLog, outside wasm (unit tests): the message goes to stderr.
func hostLog(level int32, message string) {
	os.Stderr.WriteString("[" + Level(level).String() + "] " + message + "\n")
}
