"""Evaluation against a known truth, in one home for the demo, tests, benchmarks and examples:
metrics (PSNR, SSIM structure term, scaled MSE), noisy test data from the simulator, best-iteration
SIRT, region-wise composition errors, alignment errors, and the shared figures."""

from .alignment import alignment_errors
from .data import FidelityData, fidelity_data, poisson_maps, toy_dataset
from .figures import add_scale_bars, methods_figure, orthoslices_figure, quantification_figure, save_figure, spectral_figure
from .metrics import psnr, scaled_mse, ssim_structure
from .scores import (METRICS, best_sirt, composition_table, map_correlations, sirt_path_scores, net_count_errors,
                     worst_composition_error)

__all__ = ["psnr", "ssim_structure", "scaled_mse", "METRICS", "poisson_maps", "FidelityData", "fidelity_data", "toy_dataset",
           "sirt_path_scores", "best_sirt", "net_count_errors", "map_correlations", "composition_table",
           "worst_composition_error", "save_figure", "add_scale_bars", "orthoslices_figure", "methods_figure",
           "quantification_figure", "spectral_figure", "alignment_errors"]
