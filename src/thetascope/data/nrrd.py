"""A minimal NRRD reader for the gzip/raw-encoded volumes in pyradiomics' test data.

pynrrd or SimpleITK would add a dependency for two dozen lines; the files we read are
attached (header + blank line + payload) with ``encoding`` raw or gzip, which is all this
supports. Anything else gets a clear error naming the file.

    arr, header = read_nrrd(open("brain1_image.nrrd", "rb").read(), "brain1_image.nrrd")
    arr.shape   # (z, y, x), e.g. (25, 256, 256)
"""

from __future__ import annotations

import gzip

import numpy as np

_TYPES = {
    "short": "i2", "int16": "i2", "signed short": "i2", "ushort": "u2", "unsigned short": "u2",
    "uint16": "u2", "int": "i4", "int32": "i4", "signed int": "i4", "uint": "u4",
    "unsigned int": "u4", "uchar": "u1", "unsigned char": "u1", "uint8": "u1", "char": "i1",
    "signed char": "i1", "int8": "i1", "float": "f4", "double": "f8",
}


def read_nrrd(blob: bytes, name: str = "<nrrd>") -> tuple[np.ndarray, dict[str, str]]:
    """Decode an attached NRRD file; returns (array in C order (z, y, x), header fields)."""
    if not blob.startswith(b"NRRD"):
        raise ValueError(f"{name}: not an NRRD file (no 'NRRD' magic)")
    sep = blob.find(b"\n\n")
    if sep < 0:
        raise ValueError(f"{name}: NRRD header has no terminating blank line")
    header: dict[str, str] = {}
    for line in blob[:sep].decode("latin-1").splitlines()[1:]:
        if line.startswith("#") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        header[key.strip()] = value.lstrip("=").strip()
    payload = blob[sep + 2 :]
    enc = header.get("encoding", "raw")
    if enc in ("gzip", "gz"):
        payload = gzip.decompress(payload)
    elif enc != "raw":
        raise ValueError(f"{name}: NRRD encoding {enc!r} unsupported (raw or gzip only)")
    typ = _TYPES.get(header.get("type", ""))
    if typ is None:
        raise ValueError(f"{name}: NRRD type {header.get('type')!r} unsupported")
    endian = "<" if header.get("endian", "little") == "little" else ">"
    sizes = [int(s) for s in header["sizes"].split()]
    arr = np.frombuffer(payload, dtype=np.dtype(endian + typ))
    if arr.size != int(np.prod(sizes)):
        raise ValueError(f"{name}: payload has {arr.size} values, header sizes say {sizes}")
    # NRRD lists the fastest axis first; C order wants it last.
    return arr.reshape(sizes[::-1]).astype(np.dtype(typ)), header
