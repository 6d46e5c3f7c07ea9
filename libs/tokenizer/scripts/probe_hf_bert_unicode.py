#!/usr/bin/env python3
"""Probe HF `tokenizers` (the Rust crate behind the Python package) one code point at a time and
print, as JSON, the character classes its BertNormalizer / BertPreTokenizer / NFD actually use.

The Rust crate embeds its own (older) Unicode tables, so JS property escapes (\\p{P}, \\p{Mn}, …)
disagree with it on a few hundred code points; gen-bert-unicode-tables.ts turns this output into
libs/tokenizer/src/bert-unicode-tables.ts so the TS tokenizer reproduces the crate exactly.
"""
import json
import sys

import tokenizers
from tokenizers.normalizers import NFD, BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer

clean_cjk = BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
strip = BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
lower = BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True)
nfd = NFD()
pre = BertPreTokenizer()

removed, clean_ws, cjk, mn, punct, split_ws = [], [], [], [], [], []
nfd_map, lower_map = {}, {}
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF:
        continue  # surrogates are not chars in Rust
    ch = chr(cp)
    c = clean_cjk.normalize_str(ch)
    if c == "":
        removed.append(cp)
    elif c == " " and ch != " ":
        clean_ws.append(cp)
    elif c == f" {ch} ":
        cjk.append(cp)
    if strip.normalize_str(ch) == "":
        mn.append(cp)
    d = nfd.normalize_str(ch)
    if d != ch:
        nfd_map[cp] = d
    lo = lower.normalize_str(ch)
    if lo != ch:
        lower_map[cp] = lo
    parts = pre.pre_tokenize_str(f"a{ch}a")
    if len(parts) == 3:
        punct.append(cp)
    elif len(parts) == 2:
        split_ws.append(cp)

json.dump({
    "tokenizers_version": tokenizers.__version__,
    "removed": removed, "clean_whitespace": clean_ws + [0x20], "cjk": cjk, "nonspacing_marks": mn,
    "punctuation": punct, "split_whitespace": split_ws,
    "nfd": nfd_map, "lowercase": lower_map,
}, sys.stdout)
