"""The installed version of spectomo (a bottom-layer module: every stage may import it)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spectomo")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
