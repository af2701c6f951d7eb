#!/usr/bin/env bash
# Native unit tests of the C guest helper, with any C11 compiler for the build machine (CC, else
# cc); with AddressSanitizer and UBSan where the compiler has their runtimes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cc="${CC:-cc}"
flags=(-std=c11 -g -O1 -Wall -Wextra -Werror -o "$out/test_ec_guest" "$here/test_ec_guest.c")
"$cc" -fsanitize=address,undefined "${flags[@]}" 2>/dev/null || "$cc" "${flags[@]}"
"$out/test_ec_guest"
