// Package guest is a thin helper for writing event-controller plugins in Go (guest ABI v1,
// docs/ABI.md). It provides the exports the host calls (memory, alloc, dealloc, handle_event,
// init, ec_abi_version), pins the buffers it hands to the host so Go's garbage collector cannot
// free them, packs results as (ptr<<32)|len, encodes the result JSON, reads the event's identity
// without parsing the whole object, and keeps the config received in init.
//
// A plugin registers its functions from a package init function and has an empty main:
//
//	func init() {
//		guest.OnInit(configure) // optional
//		guest.Handle(handle)
//	}
//
//	func handle(ev *guest.Event) *guest.Outcome {
//		h, err := ev.Head()
//		if err != nil {
//			return guest.Error(err.Error())
//		}
//		return guest.Info("Kind: " + h.Kind + "; Name: " + h.Name)
//	}
//
//	func main() {}
//
// Build with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared (a WASI reactor: the host calls
// _initialize, which runs the package init functions but never main).
package guest

import "unicode/utf8"

// ABIVersion is the guest ABI version this package implements, returned by ec_abi_version.
const ABIVersion = 1

// MaxResultLen is the largest result the host accepts (1 MiB); longer messages are truncated.
const MaxResultLen = 1 << 20

// Level is a log level, as an integer in the host's log import and as a name in a result.
type Level int32

// The levels, with the integers of the log import.
const (
	LevelTrace Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
)

// String returns the level's name as written in a result: TRACE, DEBUG, INFO, WARN or ERROR.
func (l Level) String() string {
	switch {
	case l <= LevelTrace:
		return "TRACE"
	case l == LevelDebug:
		return "DEBUG"
	case l == LevelInfo:
		return "INFO"
	case l == LevelWarn:
		return "WARN"
	default:
		return "ERROR"
	}
}

// Outcome is one message for the host to log. A handler returns nil for "nothing to log".
type Outcome struct {
	Level   Level
	Message string
	// Retry asks the host to hand this event over again later, after its per-object back-off
	// (docs/ABI.md §3, "Retries"). Set it with WithRetry.
	Retry bool
}

// WithRetry asks for the event again later (a transient failure: a timeout, a throttled write)
// and returns o. On a nil outcome it makes one that logs nothing.
func (o *Outcome) WithRetry() *Outcome {
	if o == nil {
		o = &Outcome{Level: LevelInfo}
	}
	o.Retry = true
	return o
}

// Trace, Debug, Info, Warn and Error make an Outcome at their level.
func Trace(message string) *Outcome { return &Outcome{Level: LevelTrace, Message: message} }

// Debug makes an Outcome at DEBUG.
func Debug(message string) *Outcome { return &Outcome{Level: LevelDebug, Message: message} }

// Info makes an Outcome at INFO.
func Info(message string) *Outcome { return &Outcome{Level: LevelInfo, Message: message} }

// Warn makes an Outcome at WARN.
func Warn(message string) *Outcome { return &Outcome{Level: LevelWarn, Message: message} }

// Error makes an Outcome at ERROR.
func Error(message string) *Outcome { return &Outcome{Level: LevelError, Message: message} }

// Event is one watch event: the server's JSON bytes, exactly as received.
type Event struct {
	raw     []byte
	head    Head
	headErr error
	read    bool
}

// NewEvent wraps raw JSON, for tests.
func NewEvent(raw []byte) *Event { return &Event{raw: raw} }

// Raw returns the event's JSON, e.g. for encoding/json. It lives in memory the host wrote; Go's
// GC keeps it alive as long as it is referenced, but copy it if you keep it across events.
func (e *Event) Raw() []byte { return e.raw }

// Head reads (once) the event's type, object.kind, object.apiVersion, object.metadata.name and
// object.metadata.namespace without decoding the rest of the object.
func (e *Event) Head() (*Head, error) {
	if !e.read {
		e.head, e.headErr = ReadHead(e.raw)
		e.read = true
	}
	return &e.head, e.headErr
}

// Config is the plugin's config table from the host's config file, as JSON ("{}" when none).
type Config struct{ raw string }

// NewConfig wraps raw JSON, for tests.
func NewConfig(raw string) Config { return Config{raw} }

// Raw returns the config's JSON text, e.g. for encoding/json.
func (c Config) Raw() string { return c.raw }

// String returns the top-level string member key. present is false when the member is absent or
// null; err is set when the config is not a JSON object or the member is not a string.
func (c Config) String(key string) (value string, present bool, err error) {
	return topLevelString([]byte(c.raw), key)
}

var (
	handler  func(*Event) *Outcome
	initFunc func(Config) error
	config   = Config{"{}"}
)

// Handle registers the event handler. Call it from a package init function.
func Handle(h func(*Event) *Outcome) { handler = h }

// OnInit registers the function that receives the config. Returning an error refuses to start:
// the error is logged at ERROR and init returns 1. Without it any config is accepted.
func OnInit(f func(Config) error) { initFunc = f }

// CurrentConfig returns the config this instance received in init ("{}" before init).
func CurrentConfig() Config { return config }

// Log sends message to the host's log at level (stderr outside wasm). Any number of times per
// call, from init and from the handler.
func Log(level Level, message string) { hostLog(int32(level), message) }

// handle runs the handler on one event and returns the result JSON, or nil for no outcome.
// A panic in the handler becomes an ERROR outcome; the instance stays usable.
func handle(raw []byte) (result []byte) {
	defer func() {
		if p := recover(); p != nil {
			result = Error("plugin panicked: " + describe(p)).JSON()
		}
	}()
	if !utf8.Valid(raw) {
		return Error("the event is not valid UTF-8").JSON()
	}
	if handler == nil {
		return Error("no handler registered: call guest.Handle from an init function").JSON()
	}
	return handler(NewEvent(raw)).JSON()
}

// initialize keeps the config and runs the plugin's init function: 0 accepts, 1 refuses.
func initialize(raw []byte) (code int32) {
	defer func() {
		if p := recover(); p != nil {
			Log(LevelError, "plugin panicked in init: "+describe(p))
			code = 1
		}
	}()
	if !utf8.Valid(raw) {
		Log(LevelError, "the config is not valid UTF-8")
		return 1
	}
	config = Config{string(raw)}
	if initFunc == nil {
		return 0
	}
	if err := initFunc(config); err != nil {
		Log(LevelError, err.Error())
		return 1
	}
	return 0
}

// describe renders a recovered panic value without fmt (which would add ~400 KB).
func describe(p any) string {
	switch v := p.(type) {
	case error:
		return v.Error()
	case string:
		return v
	default:
		return "a non-error value"
	}
}

// JSON encodes the outcome as the result the host reads: {"level":"INFO","message":"..."},
// with "retry":true when asked for ({"retry":true} alone without a message).
// nil encodes as nil (no outcome). A message too long for MaxResultLen is cut at a character
// boundary and marked "… [truncated]".
func (o *Outcome) JSON() []byte {
	if o == nil {
		return nil
	}
	if o.Message == "" && o.Retry {
		return []byte(`{"retry":true}`)
	}
	out := encodeResult(o.Level, o.Message, o.Retry)
	if len(out) <= MaxResultLen {
		return out
	}
	const mark = "… [truncated]"
	budget, used, cut := MaxResultLen-64-len(mark), 0, 0
	for cut < len(o.Message) {
		r, size := utf8.DecodeRuneInString(o.Message[cut:])
		if used += escapedLen(r); used > budget {
			break
		}
		cut += size
	}
	return encodeResult(o.Level, o.Message[:cut]+mark, o.Retry)
}

func encodeResult(level Level, message string, retry bool) []byte {
	out := make([]byte, 0, len(message)+32)
	out = append(out, `{"level":"`...)
	out = append(out, level.String()...)
	out = append(out, `","message":`...)
	out = AppendQuoted(out, message)
	if retry {
		out = append(out, `,"retry":true`...)
	}
	return append(out, '}')
}

// AppendQuoted appends s as a JSON string: quotes, backslashes and control characters escaped,
// invalid UTF-8 replaced by U+FFFD (the host rejects results that are not UTF-8).
func AppendQuoted(out []byte, s string) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				out = append(out, "\ufffd"...)
			} else {
				out = append(out, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			if c < 0x20 {
				out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			} else {
				out = append(out, c)
			}
		}
		i++
	}
	return append(out, '"')
}

func escapedLen(r rune) int {
	switch {
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20:
		return 6
	default:
		return utf8.RuneLen(r)
	}
}
