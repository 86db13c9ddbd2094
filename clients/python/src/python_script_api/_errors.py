# The client's exceptions: one class per `error_type` the API answers (src/error.rs on the server,
# `components.schemas.Error` in src/openapi.json), all under `ApiError`, and the one function that
# picks the class for an answer. Not here: when a failure raises and when it is returned as a result
# (see `is_script_failure` and _results.py), the retry of 429s (_retry.py).
from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    """An error answer from the server, or an answer that is not the API's.

    `status` is the HTTP status, `error_type` the API's stable code (None when the answer was not
    the API's JSON, e.g. a proxy's 502 page), `message` the human text, and `body` the decoded JSON
    body (an empty dict when there was none).
    """

    error_type_code: ClassVar[str | None] = None

    def __init__(self, message: str, *, status: int, error_type: str | None, body: dict[str, Any]) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type
        self.body = body

    def __str__(self) -> str:
        code = self.error_type or "no error_type"
        return f"{self.message} ({self.status} {code})"


class ScriptError(ApiError):
    """The script ran and failed on its own account: what it printed, and where it failed.

    Only `ExecutionResult.raise_for_error()` raises these: a call that ran a script returns its
    result, failed or not (see the package's docstring).
    """

    @property
    def stdout(self) -> str:
        return str(self.body.get("stdout", ""))

    @property
    def stderr(self) -> str:
        return str(self.body.get("stderr", ""))

    @property
    def traceback(self) -> str | None:
        value = self.body.get("traceback")
        return value if isinstance(value, str) else None


# The script's own failures (422, and 403 policy_violation): a run happened.
class ScriptRuntimeError(ScriptError):
    """`runtime_error`: an exception at top level or in `main()` (or in a session's cell)."""

    error_type_code = "runtime_error"


class InvalidResultError(ScriptError):
    """`invalid_result`: `main()` returned something that cannot become JSON."""

    error_type_code = "invalid_result"


class ExitedError(ScriptError):
    """`exited`: `sys.exit()`, `os._exit()` or a fatal signal before `main()` returned."""

    error_type_code = "exited"

    @property
    def exit_code(self) -> int | None:
        value = self.body.get("exit_code")
        return value if isinstance(value, int) else None


class ScriptTimeoutError(ScriptError):
    """`timeout`: the run hit its wall-clock or CPU-time limit."""

    error_type_code = "timeout"


class MemoryLimitError(ScriptError):
    """`memory_limit`: the run hit its memory limit."""

    error_type_code = "memory_limit"


class OutputLimitError(ScriptError):
    """`output_limit`: stdout, stderr, the result or the output files passed their caps."""

    error_type_code = "output_limit"


class PolicyViolationError(ScriptError):
    """`policy_violation`: the script imported a module the operator's import policy refuses."""

    error_type_code = "policy_violation"


# The request's faults: nothing ran.
class InvalidRequestError(ApiError):
    """`invalid_request` (400): a field missing, ill-typed, unknown, or out of range."""

    error_type_code = "invalid_request"


class ValidationError(ApiError):
    """`validation_error` (400): a syntax error, or no usable top-level `main()`."""

    error_type_code = "validation_error"

    @property
    def line(self) -> int | None:
        value = self.body.get("line")
        return value if isinstance(value, int) else None

    @property
    def column(self) -> int | None:
        value = self.body.get("column")
        return value if isinstance(value, int) else None


class PayloadTooLargeError(ApiError):
    """`payload_too_large` (413): the body, the script or the input files are over their caps."""

    error_type_code = "payload_too_large"


class UnauthorizedError(ApiError):
    """`unauthorized` (401): the server wants an API key (`Client(api_key=...)`) and got none or a wrong one."""

    error_type_code = "unauthorized"


class ForbiddenOriginError(ApiError):
    """`forbidden_origin` (403): a browser's request from an origin the operator did not allow."""

    error_type_code = "forbidden_origin"


class NotFoundError(ApiError):
    """`not_found` (404): no such endpoint (a wrong base URL?)."""

    error_type_code = "not_found"


class MethodNotAllowedError(ApiError):
    """`method_not_allowed` (405)."""

    error_type_code = "method_not_allowed"


class RequestTimeoutError(ApiError):
    """`request_timeout` (408): the request body did not reach the server in time."""

    error_type_code = "request_timeout"


class SessionNotFoundError(ApiError):
    """`session_not_found` (404): the session never existed, is another key's, or has ended (the message says why)."""

    error_type_code = "session_not_found"


class JobNotFoundError(ApiError):
    """`job_not_found` (404): the job never existed, is another key's, or was deleted after the retention period."""

    error_type_code = "job_not_found"


class ScriptNotFoundError(ApiError):
    """`script_not_found` (404): the saved script (or its version) never existed, is another key's, or was deleted."""

    error_type_code = "script_not_found"


class ScriptNameTakenError(ApiError):
    """`script_name_taken` (409): another script of the same API key has that name."""

    error_type_code = "script_name_taken"


class SessionBusyError(ApiError):
    """`session_busy` (409): the session is running another cell."""

    error_type_code = "session_busy"


# The server's state: nothing ran.
class OverloadedError(ApiError):
    """`overloaded` (429): every slot is busy and the queue is full. The client has already retried
    within its `Retry` bounds; `retry_after` is the server's last `Retry-After`, in seconds."""

    error_type_code = "overloaded"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_type: str | None,
        body: dict[str, Any],
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, error_type=error_type, body=body)
        self.retry_after = retry_after


class SandboxError(ApiError):
    """`sandbox_error` (500): the server failed, never the script; the message names the request id."""

    error_type_code = "sandbox_error"


class EnvironmentUnavailableError(ApiError):
    """`environment_unavailable` (503): the server does not know its sandbox's environment."""

    error_type_code = "environment_unavailable"


class SessionsUnavailableError(ApiError):
    """`sessions_unavailable` (501): this server does not run sessions (the message says why)."""

    error_type_code = "sessions_unavailable"


class StoreUnavailableError(ApiError):
    """`store_unavailable` (503): the server's job store failed; nothing was stored or changed, try again later."""

    error_type_code = "store_unavailable"


def _subclasses(cls: type[ApiError]) -> list[type[ApiError]]:
    found: list[type[ApiError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


#: error_type -> its exception class, for every class above that names one.
ERROR_CLASSES: dict[str, type[ApiError]] = {
    cls.error_type_code: cls for cls in _subclasses(ApiError) if cls.error_type_code is not None
}

#: The error types of a script that ran and failed: these come back as a result with
#: `success == False` (and `raise_for_error()` raises them); every other error type raises.
SCRIPT_FAILURES: frozenset[str] = frozenset(code for code, cls in ERROR_CLASSES.items() if issubclass(cls, ScriptError))


def is_script_failure(error_type: object) -> bool:
    return isinstance(error_type, str) and error_type in SCRIPT_FAILURES


def error_from_body(status: int, body: dict[str, Any], retry_after: float | None = None) -> ApiError:
    """The exception for an error body: its `error_type`'s class, or `ApiError` itself for a type
    this client does not know (a newer server) or a body that has none."""
    raw_type = body.get("error_type")
    error_type = raw_type if isinstance(raw_type, str) else None
    raw_message = body.get("error")
    message = raw_message if isinstance(raw_message, str) else f"HTTP {status}"
    cls = ERROR_CLASSES.get(error_type or "", ApiError)
    if cls is OverloadedError:
        return OverloadedError(message, status=status, error_type=error_type, body=body, retry_after=retry_after)
    return cls(message, status=status, error_type=error_type, body=body)
