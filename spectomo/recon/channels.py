"""Validation of the multi-channel inputs of the joint solvers (TGV–KL, HEBT)."""

from __future__ import annotations

import numpy as np

from ..signals import check_stack


def check_channels(stacks, *, arg: str = "stacks", reference=None) -> dict:
    """Validate a dict of channels that must share one grid and one tilt series.

    Parameters
    ----------
    stacks : dict[str, TomoStack (n_tilts, ny, nx)]
        The channels; each is checked with :func:`spectomo.signals.check_stack`.
    arg : str
        The argument's name, used in error messages (``"maps"`` → ``maps['Ag_La']: …``).
    reference : (str, TomoStack), optional
        A stack every channel must match (e.g. ``("haadf", haadf)``); default: the first channel.

    Returns
    -------
    dict
        A plain copy of ``stacks``.
    """
    if not isinstance(stacks, dict) or not stacks:
        raise TypeError(f"{arg}: expected a non-empty dict name → TomoStack, got {type(stacks).__name__}")
    names = list(stacks)
    for name in names:
        check_stack(stacks[name], f"{arg}[{name!r}]")
    if reference is None:
        ref_label, ref = f"{arg}[{names[0]!r}]", stacks[names[0]]
        others = names[1:]
    else:
        ref_label, ref = reference
        check_stack(ref, ref_label)
        others = names
    for name in others:
        s = stacks[name]
        if s.data.shape != ref.data.shape:
            raise ValueError(f"{arg}[{name!r}]: shape {s.data.shape} differs from {ref_label} {ref.data.shape}; "
                             "all channels must share one grid (rebin or crop to a common one)")
        if not np.allclose(s.tilts, ref.tilts, atol=1e-6):
            i = int(np.argmax(~np.isclose(s.tilts, ref.tilts, atol=1e-6)))
            raise ValueError(f"{arg}[{name!r}]: tilt angles differ from {ref_label} (first at projection {i}: "
                             f"{s.tilts[i]:g}° vs {ref.tilts[i]:g}°)")
    return dict(stacks)


def check_haadf_and_maps(haadf, maps, *, required: bool) -> dict:
    """Validate the joint solvers' ``(haadf, maps)`` inputs; returns ``maps`` as a plain dict.

    ``haadf`` is a TomoStack on the maps' grid and tilts (or None where ``required`` is False);
    ``maps`` a non-empty dict of TomoStacks.
    """
    if isinstance(haadf, dict):
        raise TypeError("haadf: expected a TomoStack (or None), got a dict; call (haadf, maps) with the maps "
                        "dict second, e.g. reconstruct_tgv(haadf, maps)")
    if haadf is None:
        if required:
            raise TypeError("haadf: expected the HAADF TomoStack, got None")
        return check_channels(maps, arg="maps")
    out = check_channels(maps, arg="maps", reference=("haadf", haadf))
    if "HAADF" in out:
        raise ValueError("maps: a map is named 'HAADF'; pass the HAADF as the haadf argument instead")
    return out
