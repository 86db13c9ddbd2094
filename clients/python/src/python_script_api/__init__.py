# The package's public face: what `import python_script_api` offers, re-exported from the modules
# that hold it, and the rule on failures. Nothing is defined here.
"""A client of python-script-api, the HTTP service that runs untrusted Python in nsjail.

    from python_script_api import Client

    with Client("http://127.0.0.1:8080") as client:
        run = client.execute("def main(data):\\n    return sum(data)", input=[1, 2, 3])
        print(run.result)  # 6

Failures, one rule everywhere (execute, stream, a session's cells, batch):

- a run that happened comes back as an `ExecutionResult`, whether the script succeeded or failed on
  its own account (`runtime_error`, `timeout`, `memory_limit`, `exited`, `invalid_result`,
  `output_limit`, `policy_violation`): check `result.success`, or call `result.raise_for_error()`
  to raise that failure's `ScriptError` subclass;
- a request that could not run raises its `ApiError` subclass at once: a bad request, a syntax error
  (`ValidationError`), a missing key, an ended session, 429 after the retries, a server fault;
- a job (`submit_job`) follows the same rule when you collect it (`Job.wait()`, `Job.result()`), and a
  job that ended without running to its end raises `JobCancelledError` or `JobLostError`;
- a saved script (`save_script`, then `run_script` or `submit_script_job` by id) too: its runs are
  `execute`'s and `submit_job`'s.

Transport failures (connection refused, an HTTP timeout) are httpx's own exceptions.
"""

from ._client import UNSET, Client, Files, Session, encode_files
from ._errors import (
    ERROR_CLASSES,
    ApiError,
    EnvironmentUnavailableError,
    ExitedError,
    ForbiddenOriginError,
    InvalidRequestError,
    InvalidResultError,
    JobNotFoundError,
    MemoryLimitError,
    MethodNotAllowedError,
    NotFoundError,
    OutputLimitError,
    OverloadedError,
    PayloadTooLargeError,
    PolicyViolationError,
    RequestTimeoutError,
    SandboxError,
    ScriptError,
    ScriptNameTakenError,
    ScriptNotFoundError,
    ScriptRuntimeError,
    ScriptTimeoutError,
    SessionBusyError,
    SessionNotFoundError,
    SessionsUnavailableError,
    StoreUnavailableError,
    UnauthorizedError,
    ValidationError,
)
from ._results import (
    BatchResult,
    Environment,
    ExecutionResult,
    MainInfo,
    OutputEvent,
    OutputFile,
    Package,
    RefusedImport,
    ResultEvent,
    SessionInfo,
    StreamEvent,
    Usage,
    ValidationIssue,
    ValidationReport,
    Variable,
)
from ._jobs import (
    Job,
    JobCancelledError,
    JobInfo,
    JobLostError,
    JobNotRunError,
    JobPage,
    JobWaitTimeout,
)
from ._retry import Retry
from ._scripts import SavedScript, ScriptPage, ScriptSummary
from ._stream import EventStream

__version__ = "0.1.0"

__all__ = [
    "ERROR_CLASSES",
    "UNSET",
    "ApiError",
    "BatchResult",
    "Client",
    "Environment",
    "EnvironmentUnavailableError",
    "EventStream",
    "ExecutionResult",
    "ExitedError",
    "Files",
    "ForbiddenOriginError",
    "InvalidRequestError",
    "InvalidResultError",
    "Job",
    "JobCancelledError",
    "JobInfo",
    "JobLostError",
    "JobNotFoundError",
    "JobNotRunError",
    "JobPage",
    "JobWaitTimeout",
    "MainInfo",
    "MemoryLimitError",
    "MethodNotAllowedError",
    "NotFoundError",
    "OutputEvent",
    "OutputFile",
    "OutputLimitError",
    "OverloadedError",
    "Package",
    "PayloadTooLargeError",
    "PolicyViolationError",
    "RefusedImport",
    "RequestTimeoutError",
    "ResultEvent",
    "Retry",
    "SavedScript",
    "SandboxError",
    "ScriptError",
    "ScriptNameTakenError",
    "ScriptNotFoundError",
    "ScriptPage",
    "ScriptRuntimeError",
    "ScriptSummary",
    "ScriptTimeoutError",
    "Session",
    "SessionBusyError",
    "SessionInfo",
    "SessionNotFoundError",
    "SessionsUnavailableError",
    "StoreUnavailableError",
    "StreamEvent",
    "UnauthorizedError",
    "Usage",
    "ValidationError",
    "ValidationIssue",
    "ValidationReport",
    "Variable",
    "encode_files",
]
