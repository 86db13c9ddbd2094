//! How a run ended, decided once from everything seen of it: its streams and whether they went past
//! their caps, its result frame, the exit its watcher reported, the OOM killer, and the deadline.
//! `classify` is the one place that turns those into a `RunStatus`, or into a `SandboxError` for a
//! jail that never got as far as Python.
//!
//! The frame comes out of the jail, so everything in it is the script's to forge: a frame that
//! makes no sense is the script's doing (`invalid_result`), never a server error.
//!
//! Not here: reading the bytes (capture.rs) and the frame's wire format (protocol.rs).

use std::process::ExitStatus;
use std::time::Duration;

use serde_json::value::RawValue;

use super::error::SandboxError;
use super::input::Limits;
use super::outcome::{Failure, FailureKind, RunStatus, Usage};
use super::outputs::{response_files, FilesError};
use super::process::Ended;
use super::protocol::{frame_cap, parse_frame, Frame, READY_MARK};
use super::settings::{Profile, SandboxSettings};

/// Everything seen of a run, once its processes are gone and its pipes drained.
pub struct Observed<'a> {
    pub stdout_over: bool,
    pub stderr_over: bool,
    /// The result channel's bytes, the ready mark first unless it was read already.
    pub result: &'a [u8],
    pub result_over: bool,
    /// Whether the ready mark was read before the run (a warm sandbox).
    pub was_ready: bool,
    pub ended: Ended,
    pub deadline_hit: bool,
    pub duration: Duration,
    /// The head of nsjail's log (empty for a forked sandbox).
    pub log: &'a [u8],
}

/// The run's status and the runner's report of its usage. In this order: an output cap, the
/// frame, the memory limit, the deadline; then a jail that never started (our failure), and last
/// an exit before main() returned.
pub fn classify(
    o: Observed,
    s: &SandboxSettings,
    profile: Profile,
    limits: &Limits,
) -> Result<(RunStatus, Option<Usage>), SandboxError> {
    let failure = |kind, message: String| RunStatus::Failed(Failure::new(kind, message));
    // Without the ready mark the jail never got as far as Python, and the failure is ours.
    let ready = o.was_ready || o.result.first() == Some(&READY_MARK);
    let frame_bytes = if o.was_ready {
        o.result
    } else {
        o.result.get(1..).unwrap_or_default()
    };
    let frame = if o.result_over || !ready {
        None
    } else {
        parse_frame(frame_bytes)
    };
    let status = if o.stdout_over || o.stderr_over {
        let stream = if o.stdout_over { "stdout" } else { "stderr" };
        failure(
            FailureKind::OutputLimit,
            format!(
                "the script wrote more than {} bytes to {stream}; it was stopped",
                s.max_output_bytes
            ),
        )
    } else if o.result_over {
        failure(
            FailureKind::OutputLimit,
            format!(
                "main()'s value, the saved results and the output files came to more than {} \
                 bytes",
                frame_cap(s)
            ),
        )
    } else if let Some(frame) = frame {
        let usage = frame.usage;
        return Ok((frame_status(frame, s), usage));
    } else if o.ended.memory_hit && !o.deadline_hit {
        failure(
            FailureKind::MemoryLimit,
            format!(
                "the script used more than its {} MiB memory limit and was killed",
                limits.memory_mib
            ),
        )
    } else if o.deadline_hit || killed_by_time(o.ended.status, o.duration, limits.timeout) {
        failure(
            FailureKind::Timeout,
            format!(
                "the script ran past its {} s limit",
                limits.timeout.as_secs()
            ),
        )
    } else if !ready {
        return Err(jail_setup_error(o.ended.status, o.log, profile));
    } else {
        exited(o.ended.status, !frame_bytes.is_empty())
    };
    Ok((status, None))
}

/// Reads a complete frame (a cell's too: session.rs).
pub(super) fn frame_status(frame: Frame, s: &SandboxSettings) -> RunStatus {
    let kind = match (frame.ok, frame.error_type.as_deref()) {
        (true, _) => {
            let Some(result) = frame.result else {
                return forged("a success without a result");
            };
            if !results_are_an_object(frame.results.as_deref()) {
                return forged("results that are not an object");
            }
            let files = match frame.files.as_deref().map(|f| response_files(f, s)) {
                None => None,
                Some(Ok(files)) => Some(files),
                Some(Err(FilesError::Malformed(what))) => return forged(&what),
                Some(Err(FilesError::BadName(message))) => {
                    return RunStatus::Failed(Failure::new(FailureKind::InvalidResult, message))
                }
                Some(Err(FilesError::OverLimit(message))) => {
                    return RunStatus::Failed(Failure::new(FailureKind::OutputLimit, message))
                }
            };
            return RunStatus::Completed {
                result,
                results: frame.results,
                files,
                exit_code: frame.exit_code,
            };
        }
        (false, Some("validation_error")) => FailureKind::Validation,
        (false, Some("runtime_error")) => FailureKind::Runtime,
        (false, Some("invalid_result")) => FailureKind::InvalidResult,
        (false, Some("exited")) => FailureKind::Exited,
        (false, Some("memory_limit")) => FailureKind::MemoryLimit,
        (false, Some("output_limit")) => FailureKind::OutputLimit,
        (false, Some("policy_violation")) => FailureKind::PolicyViolation,
        (false, Some("sandbox_error")) => {
            // The runner's own failure, or a script imitating one: either way it came out of the
            // jail, so it is reported to the caller and logged, but it is not a server error.
            // Not its message: the script controls it, and script output is never logged.
            log::warn!("a result frame reported a runner failure");
            return forged("a runner failure report");
        }
        (false, _) => return forged("an unknown error type"),
    };
    RunStatus::Failed(Failure {
        kind,
        message: frame.message.unwrap_or_default(),
        traceback: frame.traceback,
        exit_code: frame.exit_code,
    })
}

/// Checks a frame's `results`: what save_result() saved is an object. (Its files are checked by
/// `outputs::response_files`.)
fn results_are_an_object(results: Option<&RawValue>) -> bool {
    results.is_none_or(|r| r.get().trim_start().starts_with('{'))
}

fn forged(what: &str) -> RunStatus {
    RunStatus::Failed(Failure::new(
        FailureKind::InvalidResult,
        format!("the result channel carried {what} (was fd 3 written to?)"),
    ))
}

/// nsjail reports a child killed by its time limit, or by RLIMIT_CPU, as 128 + the signal.
fn killed_by_time(status: ExitStatus, duration: Duration, timeout: Duration) -> bool {
    match status.code() {
        Some(137) => duration >= timeout,
        Some(152) => true, // SIGXCPU: the CPU-time limit
        _ => false,
    }
}

/// The error for a jail that never got as far as the runner, with what nsjail logged.
pub fn jail_setup_error(status: ExitStatus, log: &[u8], profile: Profile) -> SandboxError {
    let mut reason = jail_log_errors(log);
    // nsjail names the failed clone flags; a refused user namespace has a known remedy.
    if profile == Profile::Standard && reason.contains("CLONE_NEWUSER") {
        reason.push_str(
            "\n(this host refuses user namespaces, as containers often do: \
             set SANDBOX_PROFILE=container)",
        );
    }
    SandboxError::JailSetup {
        status,
        log: reason,
    }
}

/// What nsjail said went wrong (its error and fatal lines), for a jail that never ran the runner.
fn jail_log_errors(log: &[u8]) -> String {
    let log = String::from_utf8_lossy(log);
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("[E]") || l.starts_with("[F]"))
        .collect();
    if errors.is_empty() {
        "the sandbox's Python never started (nsjail logged no error)".to_string()
    } else {
        errors.join("\n")
    }
}

fn exited(status: ExitStatus, garbled_result: bool) -> RunStatus {
    let code = status.code();
    let message = match code {
        _ if garbled_result => {
            "the result channel was written to, but not with a valid result (was fd 3 used?)"
                .to_string()
        }
        // nsjail reports a death by signal N as 128 + N, which os._exit(128 + N) can imitate.
        Some(c) if (129..=128 + 64).contains(&c) => format!(
            "the script exited with status {c} (killed by signal {}?) before main() returned",
            c - 128
        ),
        Some(c) => format!("the script exited with status {c} before main() returned"),
        None => "the sandbox was killed before main() returned".to_string(),
    };
    let kind = if garbled_result {
        FailureKind::InvalidResult
    } else {
        FailureKind::Exited
    };
    RunStatus::Failed(Failure {
        kind,
        message,
        traceback: None,
        exit_code: code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn results_must_be_an_object() {
        assert!(results_are_an_object(None));
        assert!(results_are_an_object(Some(&raw(" {}"))));
        assert!(!results_are_an_object(Some(&raw("[1]"))));
        assert!(!results_are_an_object(Some(&raw("null"))));
    }

    fn settings() -> SandboxSettings {
        crate::configuration::Settings::from_lookup(&|_| None)
            .unwrap()
            .sandbox
    }

    fn observed(result: &[u8], code: i32, memory_hit: bool) -> Observed<'_> {
        Observed {
            stdout_over: false,
            stderr_over: false,
            result,
            result_over: false,
            was_ready: false,
            ended: Ended {
                status: ExitStatus::from_raw(code << 8),
                memory_hit,
            },
            deadline_hit: false,
            duration: Duration::from_millis(5),
            log: b"[E][2026] clone(CLONE_NEWUSER): Operation not permitted",
        }
    }

    fn kind(r: Result<(RunStatus, Option<Usage>), SandboxError>) -> Option<FailureKind> {
        match r {
            Ok((RunStatus::Failed(f), _)) => Some(f.kind),
            _ => None,
        }
    }

    #[test]
    fn a_frame_wins_over_the_exit_and_the_exit_over_nothing() {
        let s = settings();
        let limits = Limits {
            timeout: Duration::from_secs(1),
            memory_mib: 64,
        };
        let ok = classify(
            observed(b"S11\n{\"ok\":true}", 0, true),
            &s,
            Profile::Standard,
            &limits,
        );
        assert!(
            matches!(ok, Ok((RunStatus::Failed(_), _))),
            "a success without a result is forged"
        );
        let ok = classify(
            observed(b"S25\n{\"ok\":true,\"result\":null}", 1, true),
            &s,
            Profile::Standard,
            &limits,
        );
        assert!(matches!(ok, Ok((RunStatus::Completed { .. }, _))));
        let oom = classify(observed(b"S", 137, true), &s, Profile::Standard, &limits);
        assert_eq!(kind(oom), Some(FailureKind::MemoryLimit));
        let exited = classify(observed(b"S", 3, false), &s, Profile::Standard, &limits);
        assert_eq!(kind(exited), Some(FailureKind::Exited));
        let garbled = classify(observed(b"Sjunk", 0, false), &s, Profile::Standard, &limits);
        assert_eq!(kind(garbled), Some(FailureKind::InvalidResult));
        match classify(observed(b"", 255, false), &s, Profile::Standard, &limits) {
            Err(SandboxError::JailSetup { log, .. }) => {
                assert!(log.contains("SANDBOX_PROFILE=container"), "{log}")
            }
            other => panic!("a jail without its ready mark is ours: {other:?}"),
        }
    }
}
