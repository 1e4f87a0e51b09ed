"""Element map stacks from a simulated EDS tilt series: windows (linear vs flat background) and NMF.

Run: python examples/extract_maps.py   (writes extract_maps.png in the current folder)
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import spectomo  # noqa: E402
from spectomo import datasets  # noqa: E402
from spectomo import evaluation as ev  # noqa: E402

sim = datasets.simulate("alloy_gradient", size=48, tilt_step=10.0, seed=1)
maps = spectomo.extract_maps(sim.eds)  # lines from the metadata: Fe_Ka, Ni_Ka, Pt_La
flat = spectomo.extract_maps(sim.eds, background="flat", progress=False)
nmf = spectomo.extract_maps(sim.eds, method="nmf")

err = {name: ev.window_errors(m, sim.net_counts) for name, m in (("linear", maps), ("flat", flat))}
for line, stack in maps.items():
    print(f"{line}: windows vs truth  linear {100 * err['linear'][line]:+.2f} %  flat {100 * err['flat'][line]:+.2f} %  "
          f"windows {stack.metadata.Spectral.background_windows}")
for key, r in ev.map_correlations(nmf, sim.areal_density).items():
    print(f"NMF {key}: correlation with the true projected {key.split('_')[0]} map {r:.3f}")

fig = maps.plot()
fig.savefig("extract_maps.png", dpi=100)
ax = nmf.plot_scree()
ax.figure.savefig("extract_maps_scree.png", dpi=100)
plt.close("all")
print("wrote extract_maps.png and extract_maps_scree.png")
