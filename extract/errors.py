"""One exception type per kind of failure; the CLI turns each into a one-line message and an exit code."""


class PipelineError(Exception):
    exit_code = 1


class ConfigError(PipelineError):
    """Configuration, environment or command-line input a user must fix. Nothing was written."""

    exit_code = 2


class SourceError(PipelineError):
    """The flat-file source could not be listed or read."""

    exit_code = 3


class FileDefectError(PipelineError):
    """One flat file is unusable (truncated gzip, wrong header, empty). Its rows are not landed."""


class NotInPlanError(PipelineError):
    """The provider listed the key but refuses to serve it (403): the subscription does not cover it."""


class FileGoneError(PipelineError):
    """The key was listed but is gone when fetched (404); the next run retries it."""


class WarehouseError(PipelineError):
    """The warehouse could not be reached or written."""

    exit_code = 3


class LockTimeoutError(WarehouseError):
    """Another extract holds the warehouse lock."""

    exit_code = 4
