#!/usr/bin/env python3
"""Builds the tokenizer benchmark inputs from text every Debian machine carries, so the
benchmark needs no download: prose.txt (the licence texts under /usr/share/common-licenses),
code.txt (tollgate's own C sources and the C library headers) and nonlatin.txt (translated
messages from gettext catalogs in Russian, Ukrainian, Greek, Hebrew, Arabic, Hindi, Thai,
Chinese, Japanese and Korean).  Each file is cut to at most 4 MiB.

usage: gen_corpus.py OUTDIR [SOURCE_ROOT]
"""
import gettext
import glob
import os
import sys

LIMIT = 4 << 20


def read_all(paths):
    out = []
    size = 0
    for p in sorted(paths):
        try:
            with open(p, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        out.append(data)
        size += len(data)
        if size >= LIMIT:
            break
    return b"\n".join(out)[:LIMIT]


def nonlatin():
    out = []
    for lang in ["ru", "uk", "el", "he", "ar", "hi", "th", "zh_CN", "ja", "ko"]:
        for mo in sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo")):
            try:
                with open(mo, "rb") as fh:
                    cat = gettext.GNUTranslations(fh)._catalog
            except Exception:
                continue
            for k, v in cat.items():
                if k and isinstance(v, str):
                    out.append(v)
    text = "\n".join(out).encode("utf-8")
    return text[:LIMIT].decode("utf-8", "ignore").encode("utf-8")


def main():
    outdir = sys.argv[1]
    src = sys.argv[2] if len(sys.argv) > 2 else "."
    os.makedirs(outdir, exist_ok=True)
    prose = read_all(glob.glob("/usr/share/common-licenses/*"))
    own = [p for p in glob.glob(f"{src}/*/*.[ch]") if os.path.getsize(p) < 65536]
    code = read_all(own + glob.glob("/usr/include/*.h"))
    for name, data in [("prose", prose), ("code", code), ("nonlatin", nonlatin())]:
        if len(data) < 4096:
            sys.exit(f"gen_corpus: not enough text found for {name}")
        with open(os.path.join(outdir, name + ".txt"), "wb") as fh:
            fh.write(data)
        print(f"{name}.txt {len(data)} bytes")


if __name__ == "__main__":
    main()
