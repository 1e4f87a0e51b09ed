"""Write the small real-header files in tests/data/etspy from ETSpy 1.3.0's test data (NIST, public
domain in the US; ETSpy's notice: tests/data/README.md).

    pip download --no-deps etspy==1.3.0 && unzip etspy-1.3.0-*.whl -d etspy_wheel
    python benchmarks/make_etspy_test_files.py etspy_wheel/etspy/tests/test_data

MRC files keep their header and extended header (FEI ``a_tilt`` / SerialEM sections) byte for
byte; only the image size changes (block-mean binning, NX/NY/MX/MY rewritten, cell size kept so the
pixel size grows by the binning). DM files and ``.mdoc`` files are copied as they are.
"""

import shutil
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "etspy"


def shrink_mrc(src: Path, dst: Path, size: int) -> None:
    raw = bytearray(src.read_bytes())
    head = bytearray(raw[:1024])
    nx, ny, nz, mode = np.frombuffer(raw[:16], dtype="<i4")
    next_ = int(np.frombuffer(raw[92:96], dtype="<i4")[0])
    dtype = {0: np.int8, 1: np.int16, 2: np.float32, 6: np.uint16}[int(mode)]
    data = np.frombuffer(raw[1024 + next_:], dtype=dtype)[: nx * ny * nz].reshape(nz, ny, nx)
    b = nx // size
    small = data.reshape(nz, size, b, size, b).astype(np.float64).mean(axis=(2, 4)).round().astype(dtype)
    head[0:8] = np.array([size, size], dtype="<i4").tobytes()     # NX, NY
    head[28:36] = np.array([size, size], dtype="<i4").tobytes()   # MX, MY
    ext = bytearray(raw[1024:1024 + next_])
    if next_ == 128 * 1024 and int(np.frombuffer(raw[128:130], dtype="<i2")[0]) == 0:  # FEI: 128-byte records
        rec = np.frombuffer(bytes(ext), dtype="<f4").reshape(1024, 32).copy()
        rec[:, 11] *= b  # pixel_size (m) of each record grows with the binning
        ext = bytearray(rec.tobytes())
    dst.write_bytes(bytes(head) + bytes(ext) + small.tobytes())


def main(folder: str) -> None:
    src = Path(folder)
    OUT.mkdir(parents=True, exist_ok=True)
    shrink_mrc(src / "HAADF.mrc", OUT / "needle_fei.mrc", 64)
    for f in sorted((src / "SerialEM_Multiframe_Test").glob("test_00?.mrc")):
        shrink_mrc(f, OUT / f"serialem_{f.stem}.mrc", 16)
        shutil.copy(f.with_suffix(".mdoc"), OUT / f"serialem_{f.stem}.mdoc")
    for f in sorted((src / "DM_Series_Test").glob("*.dm3")):
        shutil.copy(f, OUT / f.name)


if __name__ == "__main__":
    main(sys.argv[1])
