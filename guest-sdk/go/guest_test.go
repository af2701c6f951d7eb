package guest

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every recorded event of the repository: ReadHead must agree with encoding/json.
func TestReadHeadAgreesWithEncodingJSON(t *testing.T) {
	files, _ := filepath.Glob("../../tests/data/*/*.json*")
	if len(files) == 0 {
		t.Skip("no test data")
	}
	n := 0
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(f)
		lines.Buffer(nil, 1<<22)
		for lines.Scan() {
			line := strings.TrimSpace(lines.Text())
			if line == "" {
				continue
			}
			var want struct {
				Type   *string
				Object struct {
					Kind       *string
					APIVersion *string
					Metadata   struct{ Name, Namespace *string }
				}
			}
			if err := json.Unmarshal([]byte(line), &want); err != nil {
				continue // not an event
			}
			got, err := ReadHead([]byte(line))
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			check := func(field, got string, has bool, want *string) {
				if has != (want != nil) || (want != nil && got != *want) {
					t.Errorf("%s: %s = %q (present %v), want %v", file, field, got, has, deref(want))
				}
			}
			check("type", got.Type, got.HasType, want.Type)
			check("kind", got.Kind, got.HasKind, want.Object.Kind)
			check("apiVersion", got.APIVersion, got.HasAPIVersion, want.Object.APIVersion)
			check("name", got.Name, got.HasName, want.Object.Metadata.Name)
			check("namespace", got.Namespace, got.HasNamespace, want.Object.Metadata.Namespace)
			n++
		}
		f.Close()
	}
	t.Logf("%d events", n)
}

func deref(s *string) string {
	if s == nil {
		return "<absent>"
	}
	return *s
}

func TestReadHeadEdgeCases(t *testing.T) {
	for _, c := range []struct{ json, kind, name string }{
		{`{"object":{"metadata":{"ownerReferences":[{"kind":"RS","name":"o"}],"name":"n"},"spec":{"kind":"X"},"kind":"Pod"}}`, "Pod", "n"},
		{`{"object":{"kind":"Po\u0064","metadata":{"name":"caf\u00e9-\ud83d\ude80 \"q\" b\\s\/t\t"}}}`, "Pod", "café-🚀 \"q\" b\\s/t\t"},
		{`{"object":{"kind":"K","metadata":{"name":"lone \ud83d x \ude80"}}}`, "K", "lone \ufffd x \ufffd"},
		{` { "object" : { "kind" : "K" , "metadata" : { "name" : "n" } } } `, "K", "n"},
		{`{"object":{"kind":5,"metadata":{"name":null}}}`, "", ""},
	} {
		h, err := ReadHead([]byte(c.json))
		if err != nil || h.Kind != c.kind || h.Name != c.name {
			t.Errorf("%s: got %q %q %v", c.json, h.Kind, h.Name, err)
		}
	}
	for _, bad := range []string{``, `[]`, `{"object":{"kind":"K`, `{"object":{"kind":"\x"}}`, `{"object":{"kind":"\u12"}}`, `{"object":{"metadata":{"labels":{`} {
		if _, err := ReadHead([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestResultJSON(t *testing.T) {
	if Trace("x") == nil || (*Outcome)(nil).JSON() != nil {
		t.Fatal("nil outcome")
	}
	msg := "é \"q\" \\ \n\t\x01 🚀 bad:\xff"
	out := Warn(msg).JSON()
	var got struct{ Level, Message string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if got.Level != "WARN" || got.Message != strings.ToValidUTF8(msg, "\ufffd") {
		t.Errorf("%s", out)
	}
	long := Info(strings.Repeat("\"", MaxResultLen)).JSON()
	if len(long) > MaxResultLen || !json.Valid(long) || !strings.HasSuffix(string(long), `… [truncated]"}`) {
		t.Errorf("long result: %d bytes", len(long))
	}
}

func TestConfigString(t *testing.T) {
	c := NewConfig(`{"a":"x\u00e9","n":null,"num":1,"o":{"a":"inner"}}`)
	if v, ok, err := c.String("a"); v != "xé" || !ok || err != nil {
		t.Error("a", v, ok, err)
	}
	if _, ok, err := c.String("n"); ok || err != nil {
		t.Error("n", ok, err)
	}
	if _, ok, err := c.String("missing"); ok || err != nil {
		t.Error("missing", ok, err)
	}
	if _, _, err := c.String("num"); err == nil {
		t.Error("num: no error")
	}
	if _, _, err := NewConfig(`[]`).String("a"); err == nil {
		t.Error("array: no error")
	}
}

func TestHandleAndInit(t *testing.T) {
	Handle(func(ev *Event) *Outcome {
		h, _ := ev.Head()
		if h.Kind == "Panic" {
			panic("boom")
		}
		return Info(CurrentConfig().Raw() + " " + h.Kind)
	})
	OnInit(nil)
	if code := initialize([]byte(`{"p":1}`)); code != 0 {
		t.Fatal(code)
	}
	if got := string(handle([]byte(`{"object":{"kind":"Pod"}}`))); got != `{"level":"INFO","message":"{\"p\":1} Pod"}` {
		t.Error(got)
	}
	if got := string(handle([]byte(`{"object":{"kind":"Panic"}}`))); got != `{"level":"ERROR","message":"plugin panicked: boom"}` {
		t.Error(got)
	}
	if got := string(handle([]byte("\xff"))); !strings.Contains(got, "not valid UTF-8") {
		t.Error(got)
	}
	OnInit(func(Config) error { return os.ErrInvalid })
	if code := initialize([]byte(`{}`)); code != 1 {
		t.Error("refusal", code)
	}
}

func TestPinning(t *testing.T) {
	p := allocate(10)
	if _, ok := pinned[uintptr(p)]; !ok {
		t.Fatal("not pinned")
	}
	unpin(p)
	if len(pinned) != 0 || pack(nil) != 0 {
		t.Fatal("leak")
	}
}

func TestTakeHostBuffer(t *testing.T) {
	// A host answer: a buffer from alloc, at a 32-bit address as on wasm32.
	pinned[0x1000] = []byte("answer and spare")
	b, ok := TakeHostBuffer(0x1000<<32 | 6)
	if !ok || string(b) != "answer" {
		t.Fatalf("%q %v", b, ok)
	}
	if _, still := pinned[0x1000]; still {
		t.Fatal("not released")
	}
	if _, ok := TakeHostBuffer(0x1000<<32 | 6); ok {
		t.Fatal("taken twice")
	}
	if _, ok := TakeHostBuffer(0); ok {
		t.Fatal("no answer")
	}
}

func TestRetry(t *testing.T) {
	if got := string(Warn("busy").WithRetry().JSON()); got != `{"level":"WARN","message":"busy","retry":true}` {
		t.Error(got)
	}
	if got := string((*Outcome)(nil).WithRetry().JSON()); got != `{"retry":true}` {
		t.Error(got)
	}
	if got := string(Info("x").JSON()); got != `{"level":"INFO","message":"x"}` {
		t.Error(got)
	}
}
