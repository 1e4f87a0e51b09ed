"""Regenerate tests/data/etspy_needle_reference.npz and etspy_needle_aligned.hspy with ETSpy itself.

Run in an environment with ETSpy 1.3 installed (not spectomo's: ETSpy pins other versions):

    python -m venv /tmp/etvenv && /tmp/etvenv/bin/pip install etspy==1.3.0 && /tmp/etvenv/bin/pip install -e .
    /tmp/etvenv/bin/python benchmarks/etspy_reference.py

ETSpy's notebook workflow on the binned NIST needle of tests/data (offset removed as ``etspy.load``
does): ``stack_register('PC')`` → ``tilt_align('CoM')`` → ``align_other(raw)``. Written: ETSpy's
shifts, tilt-axis rotation and shift, the aligned stack re-applied to the raw data (``replayed``),
and the aligned stack saved by ETSpy (first 9 projections, to keep the file small) so spectomo's
loader is tested on a file ETSpy wrote. Also (etspy_small_reference.npz): ``trans_stack`` on a
seeded synthetic stack, and ETSpy's SIRT of a small known volume projected by spectomo (its
RecStack layout). tests/test_etspy_compat.py compares spectomo against them.
"""

from pathlib import Path

import numpy as np

import etspy.api as etspy
from spectomo.geometry import forward_project  # spectomo installed beside ETSpy (pip install -e .)

HERE = Path(__file__).resolve().parents[1] / "tests" / "data"


def main() -> None:
    z = np.load(HERE / "nist_needle_bin4.npz")
    proj = z["projections"].astype(np.float32)
    proj -= proj.min()  # what etspy.load does with a negative detector offset
    raw = etspy.TomoStack(proj, tilts=z["tilts"].astype(float))
    reg = raw.stack_register("PC")
    ali = reg.tilt_align("CoM")
    replayed = ali.align_other(raw)
    tomo = ali.metadata.Tomography
    np.savez_compressed(HERE / "etspy_needle_reference.npz", register_shifts=np.asarray(reg.shifts.data),
                        shifts=np.asarray(ali.shifts.data), tiltaxis=float(tomo.tiltaxis),
                        xshift=float(tomo.xshift), yshift=float(tomo.yshift),
                        replayed_index=np.arange(0, 77, 8), replayed=np.asarray(replayed.data, dtype=np.float32)[::8])
    ali.inav[:9].save(HERE / "etspy_needle_aligned.hspy", overwrite=True)

    # ETSpy's notebook workflow on the small real-header MRC of tests/data/etspy
    nb = etspy.load(HERE / "etspy" / "needle_fei.mrc")
    nb_reg = nb.stack_register("PC")
    nb_ali = nb_reg.tilt_align("CoM")
    nb_rec = nb_ali.align_other(etspy.load(HERE / "etspy" / "needle_fei.mrc")).reconstruct("SIRT", iterations=20,
                                                                                            cuda=False)
    np.savez_compressed(HERE / "etspy_notebook_reference.npz", shifts=np.asarray(nb_ali.shifts.data),
                        register_shifts=np.asarray(nb_reg.shifts.data),
                        tiltaxis=float(nb_ali.metadata.Tomography.tiltaxis),
                        yshift=float(nb_ali.metadata.Tomography.yshift), recon_shape=np.array(nb_rec.data.shape))

    # trans_stack on a seeded synthetic stack, and the layout of a reconstruction
    rng = np.random.default_rng(0)
    img = rng.random((3, 24, 20)).astype(np.float32)
    img[:, 6:12, 12:15] += 2.0
    syn = etspy.TomoStack(img, tilts=np.array([-30.0, 0.0, 30.0]))
    cases = {"x": (3.0, 0.0, 0.0), "y": (0.0, 2.0, 0.0), "angle": (0.0, 0.0, 10.0), "all": (1.5, -2.5, -7.0)}
    moved = {k: np.asarray(syn.trans_stack(xshift=a, yshift=b, angle=c).data) for k, (a, b, c) in cases.items()}
    vol = np.zeros((4, 16, 16), np.float32)  # spectomo layout (nx, ny, nz): a block at y 3–5, z 10–12
    vol[1, 3:6, 10:13] = 1.0
    tilts = np.arange(-70.0, 71.0, 5.0)
    proj = forward_project(vol, tilts)  # spectomo's projector, (n_tilts, ny, nx)
    rec = etspy.TomoStack(proj, tilts=tilts).reconstruct("SIRT", iterations=100, cuda=False)
    np.savez_compressed(HERE / "etspy_small_reference.npz", trans_input=img,
                        **{f"trans_{k}": v for k, v in moved.items()},
                        **{f"trans_{k}_args": np.array(v) for k, v in cases.items()},
                        volume=vol, volume_tilts=tilts, etspy_recon=np.asarray(rec.data, dtype=np.float32))

    print("ETSpy: tilt axis", float(tomo.tiltaxis), "deg, yshift", float(tomo.yshift), "px; shifts[0]",
          np.asarray(ali.shifts.data)[0])


if __name__ == "__main__":
    main()
