"""exspy, imported once with its HyperSpy import-path deprecation warnings silenced.

exspy 0.3 imports names HyperSpy 2.x has moved; each import prints a VisibleDeprecationWarning that
users cannot act on. The filter covers only this import and only those messages, so the user's own
warnings (and any other warning from either package) still show. Every spectomo module that needs
exspy, or may make HyperSpy import it (the signal classes), imports this module first.
"""

import warnings

from hyperspy.exceptions import VisibleDeprecationWarning

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=VisibleDeprecationWarning,
                            message=r"Importing `\w+` from `hyperspy\._signals")
    import exspy  # noqa: F401
