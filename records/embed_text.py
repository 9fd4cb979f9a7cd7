#!/usr/bin/env python3
"""Build-time generator: embeds a text file (the dashboard page) in a C source as one
string, so the binary serves it without reading files at run time.
Output: `const char NAME[]` (NUL-terminated) and `const size_t NAME_len`.

usage: embed_text.py NAME INPUT OUTPUT.c"""
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: embed_text.py NAME INPUT OUTPUT.c")
    name, src, dst = sys.argv[1:]
    data = open(src, "rb").read()
    data.decode("utf-8")  # refuse a file that is not UTF-8
    lines = []
    for line in data.splitlines(keepends=True):
        out = []
        for b in line:
            if b in (0x22, 0x5C):
                out.append("\\" + chr(b))
            elif 0x20 <= b < 0x7F and b != 0x3F:
                out.append(chr(b))
            else:
                out.append(f"\\{b:03o}")
        lines.append('    "' + "".join(out) + '"')
    with open(dst, "w") as f:
        f.write(f"/* Generated from {src.split('/')[-1]} by embed_text.py: do not edit. */\n")
        f.write("#include <stddef.h>\n")
        f.write(f"extern const char {name}[];\nextern const size_t {name}_len;\n")
        f.write(f"const char {name}[] =\n" + "\n".join(lines or ['    ""']) + ";\n")
        f.write(f"const size_t {name}_len = {len(data)};\n")


main()
