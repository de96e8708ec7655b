"""Prints EXPR evaluated over the fields of a JSON document: FILE's whole text (cmm --json output) or, when that is not one
document, its last line (the replica's JSONL --out). Used by the bench shell scripts; benchmarks only.

Usage: /usr/bin/python3 bench/scripts/json_field.py FILE EXPR
"""
import json
import sys

text = open(sys.argv[1]).read().strip()
try:
    fields = json.loads(text)
except ValueError:
    fields = json.loads(text.splitlines()[-1])
print(eval(sys.argv[2], {}, fields))
