"""One exception type per kind of failure; the CLI turns each into a one-line message and an exit code."""

import signal


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


class MemoryCapError(PipelineError):
    """A file did not fit in the warehouse's memory cap beside the files landing with it; nothing of it landed."""


class NotInPlanError(PipelineError):
    """The provider listed the key but refuses to serve it (403): the subscription does not cover it."""


class FileGoneError(PipelineError):
    """The key was listed but is gone when fetched (404); the next run retries it."""


class ResourceError(PipelineError):
    """Something the whole run needs is unreachable or unusable: the run stops, what landed stays."""

    exit_code = 3


class WarehouseError(ResourceError):
    """The warehouse could not be reached or written."""


class DamagedWarehouseError(WarehouseError):
    """The warehouse file cannot be read back (truncated, overwritten): nothing more can land into it."""


class CacheError(ResourceError):
    """The download cache cannot be written (disk full, read-only, not a folder)."""


class LockTimeoutError(WarehouseError):
    """Another extract holds the warehouse lock."""

    exit_code = 4


class BuildError(PipelineError):
    """dbt ran and failed (a model or a test): landing is kept and the next run builds again."""

    exit_code = 5


class Interrupted(PipelineError):
    """SIGINT or SIGTERM stopped the run: no new file was started, files in flight finished or rolled back."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}; re-run to load the rest")
        self.exit_code = 128 + signum


class NotAuthorizedError(SourceError):
    """The provider refused the key (401/403): no other request would fare better."""
