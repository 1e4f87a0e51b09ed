"""``spectomo run``: the whole pipeline on the user's own files, configured by one TOML file.

:class:`Pipeline` runs element maps → alignment → reconstruction → quantification → phases and
writes a self-contained HTML report; every stage's result is saved and reused while its options
and inputs are unchanged (:mod:`~spectomo.pipeline.cache`). :func:`init_config` (``spectomo
init FILES…``) writes a commented configuration for a set of files. The options are described
once, in :data:`~spectomo.pipeline.config.SCHEMA`.
"""

from .config import ConfigError, check_config, config_text, read_config
from .init import init_config
from .run import Pipeline, StageError, StageRecord

__all__ = ["Pipeline", "StageRecord", "StageError", "ConfigError", "read_config", "check_config", "config_text", "init_config"]
