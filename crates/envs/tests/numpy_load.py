"""Loads an .npz written by `envs` with NumPy and prints, per key, what the Rust test compares.

Usage: python3 numpy_load.py FILE.npz

One line per array, sorted by key:
    KEY DTYPE SHAPE SHA256 FIRST
where DTYPE is NumPy's `dtype.str` (e.g. `<f4`), SHAPE is `(d0,d1,...)` (`()` for 0-D),
SHA256 is the hex digest of the array's C-order bytes, FIRST is `repr` of its first element
(or `-` when empty). Exits non-zero if NumPy cannot load the file or an array is not C-ordered.
"""

import hashlib
import sys

import numpy as np


def main(path: str) -> None:
    with np.load(path, allow_pickle=False) as npz:
        for key in sorted(npz.files):
            a = npz[key]
            assert a.flags["C_CONTIGUOUS"], f"{key} is not C-contiguous"
            digest = hashlib.sha256(a.tobytes(order="C")).hexdigest()
            first = repr(a.reshape(-1)[0].item()) if a.size else "-"
            shape = "(" + ",".join(str(d) for d in a.shape) + ")"
            print(f"{key} {a.dtype.str} {shape} {digest} {first}")


if __name__ == "__main__":
    main(sys.argv[1])
