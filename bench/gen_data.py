#!/usr/bin/env python3
"""Deterministic input files for bench/run's real-program rows (seeded PRNG).

Usage: gen_data.py KIND SIZE OUT
  text  BYTES  log-like text lines (gzip input)
  lines COUNT  "word number word" lines (sort input)
  xml   ITEMS  <catalog> of <item> elements with attributes, text and nested tags
  json  ITEMS  JSON array of small objects with nested arrays and objects
"""
import json
import random
import sys

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
         "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho",
         "sigma", "tau", "upsilon"]


def text(r, size, f):
    n = i = 0
    while n < size:
        line = "%08d %s %s %d %s\n" % (i, r.choice(WORDS), r.choice(WORDS), r.randrange(10**9),
                                      "".join(r.choice("abcdefghij") for _ in range(20)))
        f.write(line)
        n += len(line)
        i += 1


def lines(r, count, f):
    for _ in range(count):
        f.write("%s %d %s\n" % (r.choice(WORDS), r.randrange(10**9), r.choice(WORDS)))


def xml(r, items, f):
    f.write('<?xml version="1.0"?>\n<catalog>\n')
    for i in range(items):
        f.write('  <item id="%d" kind="%s"><name>%s %d</name><price>%d.%02d</price>'
                '<tags><tag>%s</tag><tag>%s</tag></tags></item>\n'
                % (i, r.choice(WORDS), r.choice(WORDS), i, r.randrange(1000), r.randrange(100),
                   r.choice(WORDS), r.choice(WORDS)))
    f.write('</catalog>\n')


def jsn(r, items, f):
    f.write("[")
    for i in range(items):
        if i:
            f.write(",\n")
        f.write(json.dumps({"id": i, "name": r.choice(WORDS), "price": r.randrange(100000) / 100,
                            "tags": [r.choice(WORDS), r.choice(WORDS)],
                            "nested": {"a": r.randrange(10), "b": r.choice(WORDS)}}))
    f.write("]\n")


def main():
    kind, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    gen = {"text": text, "lines": lines, "xml": xml, "json": jsn}[kind]
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        gen(random.Random(42), size, f)
    import os
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
