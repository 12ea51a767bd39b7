"""Build hook: the protobuf code is generated from ../protos whenever the package is built.

From an sdist (no ../protos beside it) the code generated when the sdist was made is used.
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_protos import PROTO_ROOT, generate

if PROTO_ROOT.is_dir():
    generate()
setup()
