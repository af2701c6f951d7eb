"""Appends a custom section to a wasm module or component:

    python3 custom_section.py FILE.wasm NAME PAYLOAD_FILE

componentize-py cannot emit custom sections, so scripts/build-python.sh appends the plugin's
`event-controller.subscribe` (docs/ABI.md §6) this way, at the top level of the component. A
custom section is id 0, the LEB128 size of the rest, the LEB128 length of the name, the name,
then the payload; it may follow any other section. A top-level section of the same name already
in the file is an error (the host refuses two), so rebuild from source first. The payload must
be JSON (the host wants JSON: fail here rather than at load time).
"""

import json
import sys

MAGIC = b"\0asm"


def leb128(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_leb128(data, at):
    """The unsigned LEB128 at `at`, and the offset after it."""
    value = shift = 0
    while True:
        if at >= len(data):
            raise ValueError("truncated LEB128 at offset %d" % at)
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def custom_section_names(data):
    """The names of the top-level custom sections of a module or component (nested modules'
    and components' sections are inside their own sections, so not listed)."""
    if data[:4] != MAGIC or len(data) < 8:
        raise ValueError("not a WebAssembly module or component")
    names = []
    at = 8
    while at < len(data):
        section_id = data[at]
        size, body = read_leb128(data, at + 1)
        end = body + size
        if end > len(data):
            raise ValueError("section %d at offset %d runs past the end" % (section_id, at))
        if section_id == 0:
            name_len, name_at = read_leb128(data, body)
            names.append(data[name_at : name_at + name_len].decode("utf-8", "replace"))
        at = end
    return names


def section(name, payload):
    name_bytes = name.encode("utf-8")
    body = leb128(len(name_bytes)) + name_bytes + payload
    return b"\0" + leb128(len(body)) + body


def main(argv):
    if len(argv) != 4:
        print("usage: python3 custom_section.py FILE.wasm NAME PAYLOAD_FILE", file=sys.stderr)
        return 2
    path, name, payload_file = argv[1:]
    with open(path, "rb") as f:
        data = f.read()
    with open(payload_file, "rb") as f:
        payload = f.read()
    try:
        json.loads(payload.decode("utf-8"))
    except ValueError as error:
        print("error: %s is not UTF-8 JSON: %s" % (payload_file, error), file=sys.stderr)
        return 1
    try:
        names = custom_section_names(data)
    except ValueError as error:
        print("error: %s: %s" % (path, error), file=sys.stderr)
        return 1
    if name in names:
        print("error: %s already has a custom section %s" % (path, name), file=sys.stderr)
        return 1
    with open(path, "ab") as f:
        f.write(section(name, payload))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
