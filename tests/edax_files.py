"""Write EDAX TEAM spectrum-image files (``.spd`` with its ``.spc`` calibration) for the tests.

No small EDAX file can be shipped here (RosettaSciIO's test archive is GPL and not in the mirror),
so the tests write their own: the header layouts are RosettaSciIO's own
(``rsciio.edax.get_spd_dtype_list`` / ``get_spc_dtype_list``, from EDAX's SPECTRUM-V70
specification), the counts are the caller's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_spd(path, counts, *, ev_per_channel: float, start_kev: float = 0.0, beam_kv: float = 200.0,
              elevation: float = 18.0, azimuth: float = 45.0, live_time: float = 1.0, tilt: float = 0.0,
              resolution_ev: float = 130.0, elements=(), pixel_nm: float | None = None) -> Path:
    """``path`` (.spd) holding ``counts`` (ny, nx, n_channels) as uint16, and ``path.spc`` beside it
    with the energy calibration, beam energy, detector angles, live time, stage tilt and elements;
    with ``pixel_nm``, also the ``.ipr`` that EDAX writes with the pixel size (µm per pixel)."""
    from rsciio.edax._api import get_ipr_dtype_list, get_spc_dtype_list, get_spd_dtype_list
    from exspy.material import elements as table

    path = Path(path)
    counts = np.asarray(counts)
    ny, nx, nch = counts.shape
    spd = np.zeros(1, dtype=get_spd_dtype_list("<"))
    spd["tag"][0][:15] = np.frombuffer(b"MAPSPECTRA_DATA", dtype=np.int8)
    spd["version"], spd["nSpectra"], spd["nPoints"], spd["nLines"] = 1, nx * ny, nx, ny
    spd["nChannels"], spd["countBytes"], spd["dataOffset"], spd["nFrames"] = nch, 2, spd.itemsize, 1
    name = path.with_suffix(".bmp").name.encode()[:119]
    spd["fName"][0][:len(name)] = np.frombuffer(name, dtype=np.int8)
    with open(path, "wb") as f:
        spd.tofile(f)
        counts.astype("<u2").tofile(f)
    spc = np.zeros(1, dtype=get_spc_dtype_list(load_all=True, endianness="<", version=0.61))
    numbers = [int(table[el]["General_properties"]["Z"]) for el in elements]
    values = {"fVersion": 0.61, "evPerChan": ev_per_channel, "startEnergy": start_kev, "kV": beam_kv,
              "elevation": elevation, "azimuth": azimuth, "liveTime": live_time, "tilt": tilt,
              "detReso": resolution_ev, "numElem": len(numbers), "numPts": nch}
    for key, value in values.items():
        if key in spc.dtype.names:
            spc[key] = value
    if numbers:
        spc["at"][0][:len(numbers)] = numbers
    if pixel_nm is not None:
        ipr = np.zeros(1, dtype=get_ipr_dtype_list("<", 333))
        ipr["version"], ipr["mppX"], ipr["mppY"] = 333, pixel_nm / 1000, pixel_nm / 1000
        ipr.tofile(path.with_suffix(".ipr"))
    with open(path.with_suffix(".spc"), "wb") as f:
        spc.tofile(f)
        f.write(bytes(4096))  # RosettaSciIO's short header layout reads a few bytes past the full one
    return path
