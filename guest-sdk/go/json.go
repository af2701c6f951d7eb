package guest

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// Head is the identity of a watch event. Has* is false when the member is absent or not a string.
type Head struct {
	Type       string // type: ADDED, MODIFIED or DELETED
	APIVersion string // object.apiVersion
	Kind       string // object.kind
	Name       string // object.metadata.name
	Namespace  string // object.metadata.namespace ("" for cluster-scoped objects)

	HasType, HasAPIVersion, HasKind, HasName, HasNamespace bool
}

// The fields of a Head, as bits: reading stops once every one is seen or known to be absent.
const (
	fType = 1 << iota
	fAPIVersion
	fKind
	fName
	fNamespace

	fMetadata = fName | fNamespace
	fObject   = fAPIVersion | fKind | fMetadata
	fAll      = fType | fObject
)

// ReadHead reads the Head of a watch event. Only members of the top-level object and of
// object.metadata count (a nested ownerReferences[].kind or spec.template.metadata.name is
// skipped), in any order. Strings are decoded, including \uXXXX escapes and surrogate pairs (a
// lone surrogate becomes U+FFFD). Reading stops as soon as every field is settled: with the API
// server's member order, annotations, managedFields, spec and status are never scanned.
func ReadHead(event []byte) (Head, error) {
	var h Head
	settled := 0
	s := &scanner{b: event}
	if c, err := s.peek(); err != nil || c != '{' {
		return h, errors.New("the event is not a JSON object")
	}
	_, err := s.object(func(key string) (bool, error) {
		var err error
		switch key {
		case "type":
			h.Type, h.HasType, err = s.optString()
			settled |= fType
		case "object":
			if c, _ := s.peek(); c != '{' {
				return false, s.skip()
			}
			stop, err := s.object(func(key string) (bool, error) {
				var err error
				switch key {
				case "kind":
					h.Kind, h.HasKind, err = s.optString()
					settled |= fKind
				case "apiVersion":
					h.APIVersion, h.HasAPIVersion, err = s.optString()
					settled |= fAPIVersion
				case "metadata":
					if c, _ := s.peek(); c != '{' {
						return false, s.skip()
					}
					stop, err := s.object(func(key string) (bool, error) {
						var err error
						switch key {
						case "name":
							h.Name, h.HasName, err = s.optString()
							settled |= fName
						case "namespace":
							h.Namespace, h.HasNamespace, err = s.optString()
							settled |= fNamespace
						default:
							err = s.skip()
						}
						return settled == fAll, err
					})
					if stop || err != nil {
						return stop, err
					}
					settled |= fMetadata // metadata ended: what was not seen is absent
				default:
					err = s.skip()
				}
				return settled == fAll, err
			})
			if stop || err != nil {
				return stop, err
			}
			settled |= fObject
		default:
			err = s.skip()
		}
		return settled == fAll, err
	})
	return h, err
}

// topLevelString returns the string member key of the JSON object doc (see Config.String).
func topLevelString(doc []byte, key string) (value string, present bool, err error) {
	s := &scanner{b: doc}
	if c, err := s.peek(); err != nil || c != '{' {
		return "", false, errors.New("the config is not a JSON object")
	}
	_, err = s.object(func(k string) (bool, error) {
		if k != key {
			return false, s.skip()
		}
		if c, _ := s.peek(); c == 'n' {
			present = false
			return false, s.skip()
		}
		if c, _ := s.peek(); c != '"' {
			return false, errors.New(key + " must be a string")
		}
		value, present, err = s.optString()
		return false, err
	})
	return value, present, err
}

// scanner reads JSON from b at i. Malformed or truncated input is an error, never a panic.
// It validates only what it reads: skipped values are only checked for balanced brackets.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) fail(what string) error {
	return errors.New("invalid JSON at byte " + itoa(s.i) + ": " + what)
}

// peek skips whitespace and returns the next byte without consuming it.
func (s *scanner) peek() (byte, error) {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return c, nil
		}
	}
	return 0, s.fail("unexpected end")
}

func (s *scanner) expect(want byte) error {
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c != want {
		return s.fail("expected '" + string(rune(want)) + "'")
	}
	s.i++
	return nil
}

// object reads the object at the cursor, calling member with each key and the cursor on the
// value, which member must consume. member returns true to stop early; object then returns true
// with the rest of the document unread.
func (s *scanner) object(member func(key string) (bool, error)) (bool, error) {
	if err := s.expect('{'); err != nil {
		return false, err
	}
	if c, err := s.peek(); err != nil || c == '}' {
		s.i++
		return false, err
	}
	for {
		key, err := s.str()
		if err != nil {
			return false, err
		}
		if err := s.expect(':'); err != nil {
			return false, err
		}
		if stop, err := member(key); stop || err != nil {
			return stop, err
		}
		c, err := s.peek()
		if err != nil {
			return false, err
		}
		s.i++
		switch c {
		case ',':
		case '}':
			return false, nil
		default:
			s.i--
			return false, s.fail("expected ',' or '}'")
		}
	}
}

// optString reads a string value, or skips any other value and reports it absent.
func (s *scanner) optString() (string, bool, error) {
	if c, err := s.peek(); err != nil || c != '"' {
		return "", false, s.skip()
	}
	v, err := s.str()
	return v, err == nil, err
}

// str reads a string and decodes its escapes into UTF-8.
func (s *scanner) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.i
	// Fast path: no escapes, the string is a copy of the bytes.
	for s.i < len(s.b) && s.b[s.i] != '\\' {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return string(s.b[start : s.i-1]), nil
		case c < 0x20:
			return "", s.fail("control character in a string")
		}
		s.i++
	}
	out := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(out), nil
		case c < 0x20:
			return "", s.fail("control character in a string")
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			break
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", s.fail("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A high surrogate followed by \u and a low one is one character; anything
				// else is a lone surrogate, which UTF-8 cannot carry.
				low := utf8.RuneError
				if r < 0xdc00 && s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					save := s.i
					s.i += 2
					if l, ok := s.hex4(); ok && l >= 0xdc00 && l <= 0xdfff {
						low = l
					} else {
						s.i = save
					}
				}
				r = utf16.DecodeRune(r, low)
			}
			out = utf8.AppendRune(out, r)
		default:
			s.i -= 2
			return "", s.fail("invalid escape")
		}
	}
	return "", s.fail("unterminated string")
}

// hex4 reads the four hex digits of a \u escape.
func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.i += 4
	return r, true
}

// skip consumes one value of any type without decoding it.
func (s *scanner) skip() error {
	c, err := s.peek()
	if err != nil {
		return err
	}
	switch c {
	case '"':
		return s.skipString()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if err := s.skipString(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					s.i++
					return nil
				}
			}
			s.i++
		}
		return s.fail("unterminated object or array")
	case ',', ':', '}', ']':
		return s.fail("expected a value")
	default: // number, true, false, null
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if s.i == start {
					return s.fail("expected a value")
				}
				return nil
			}
			s.i++
		}
		return nil
	}
}

// skipString consumes the string at the cursor (on its opening quote).
func (s *scanner) skipString() error {
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return nil
		}
	}
	return s.fail("unterminated string")
}

// itoa formats a non-negative int (strconv would do; this keeps the package's imports tiny).
func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}
