"""Reconstruction: ASTRA per channel (:mod:`~spectomo.recon.astra`), and the joint OpenCL solvers
TGV–KL (:mod:`~spectomo.recon.tgv`) and HEBT (:mod:`~spectomo.recon.hebt`), each a small
:class:`~spectomo.recon.driver.Solver` run by one driver (:func:`~spectomo.recon.driver.run`) and
returning one container (:class:`~spectomo.recon.result.RecStacks`). Large problems split into slabs
(:mod:`~spectomo.recon.slabs`); many tilt series run over a dask cluster (:mod:`~spectomo.recon.batch`)."""

from .astra import RECON_METHODS, recon_error, reconstruct, reconstruct_path
from .batch import reconstruct_many
from .checkpoint import CheckpointError
from .driver import IterationInfo, RunRecord, Solver, run
from .hebt import reconstruct_hebt
from .ratios import ResponseFitError, fit_response_ratios
from .result import RecStacks
from .tgv import reconstruct_tgv
from .thinning import plot_heldout

__all__ = ["reconstruct", "recon_error", "reconstruct_path", "RECON_METHODS", "reconstruct_tgv", "reconstruct_hebt",
           "RecStacks", "fit_response_ratios", "ResponseFitError", "CheckpointError", "IterationInfo", "RunRecord",
           "Solver", "run", "plot_heldout", "reconstruct_many"]
