"""Vendor metadata brought into the form the rest of spectomo reads.

RosettaSciIO labels some EDS files as scanning-electron-microscope data (EDAX TEAM ``.spd``,
Bruker files recorded in SEM mode): the beam energy, live time, detector angles and stage tilt sit
under ``Acquisition_instrument.SEM`` and the signal type is ``EDS_SEM``. spectomo reconstructs
tilt series taken in a (S)TEM and reads those values under ``Acquisition_instrument.TEM`` (as exspy's
``EDS_TEM`` signals hold them), so such a file is converted on loading; the conversion is recorded
in ``metadata.General.spectomo_converted`` ("SEM → TEM").
"""

from __future__ import annotations

__all__ = ["eds_as_tem"]


def eds_as_tem(sig):
    """``sig`` with an SEM-labelled EDS acquisition moved to ``Acquisition_instrument.TEM`` and the
    signal type ``EDS_TEM`` (in place; other signals are returned unchanged)."""
    md = sig.metadata
    if md.get_item("Signal.signal_type") != "EDS_SEM" or md.has_item("Acquisition_instrument.TEM"):
        return sig
    if md.has_item("Acquisition_instrument.SEM"):
        md.set_item("Acquisition_instrument.TEM", md.Acquisition_instrument.SEM.deepcopy())
        del md.Acquisition_instrument.SEM
    sig.set_signal_type("EDS_TEM")
    md.set_item("General.spectomo_converted", "SEM → TEM (EDS acquisition labelled SEM by the reader)")
    return sig
