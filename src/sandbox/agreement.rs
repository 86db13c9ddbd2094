//! Tests that the isolation constants written twice, once on the Rust side (or in
//! configs/python.cfg) and once in the Python that runs in the jail (runner.py, its modules,
//! zygote.py), agree. Nothing at run time compares them: a change to one side alone would weaken a
//! sandbox or break the protocol quietly. The Python is read as the binary embeds it
//! (`protocol::RUNNER`, `protocol::WORKDIR`, `protocol::ZYGOTE`...) and its top-level
//! `NAME = value` lines are parsed here by hand. Also: every mount has its mount point in the jail's
//! root (chroot/manifest).
//!
//! What does not live here: the behaviour behind the constants (tests/api/fork.rs and the attack
//! corpus run real jails), and the output path limit's twin in file_names.rs (its own test there).

use super::nsjail::{JAIL_VENV, RESULT_FD, RUN_POLICY_TAIL, ZYGOTE_POLICY_TAIL};
use super::protocol::FRAME_ROOM_PER_FILE;
use super::protocol::{READY_MARK, RUNNER, RUNNER_COMMAND, RUNNER_MODULES, WORKDIR, ZYGOTE};
use super::zygote::SHM_MIB;

const CONFIG: &str = include_str!("../../configs/python.cfg");
/// The attack that checks the queued-signal limit from inside a run carries its own copy.
const QUEUED_SIGNALS_ATTACK: &str =
    include_str!("../../tests/attacks/exhaust_27_queued_signals.py");

/// The x86_64 numbers of the calls the policies name, as zygote.py's CHILD_DENIED_SYSCALLS lists
/// them (checked against the libc crate below, on x86_64).
const SYSCALLS: [(&str, i64); 6] = [
    ("mount", 165),
    ("umount2", 166),
    ("unshare", 272),
    ("setns", 308),
    ("pivot_root", 155),
    ("chroot", 161),
];

/// The value of the one top-level `NAME = value` line of a Python source, its comment cut off.
fn py_value<'a>(source: &'a str, name: &str) -> &'a str {
    let values: Vec<&str> = source
        .lines()
        .filter_map(|line| line.strip_prefix(name)?.trim_start().strip_prefix('='))
        .map(|value| value.split(" #").next().unwrap_or(value).trim())
        .collect();
    assert_eq!(
        values.len(),
        1,
        "expected one line `{name} = ...`: {values:?}"
    );
    values[0]
}

fn parse_int(text: &str) -> i64 {
    let text = text.trim().replace('_', "");
    match text.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16),
        None => text.parse(),
    }
    .unwrap_or_else(|e| panic!("{text:?} is not an integer: {e}"))
}

fn py_int(source: &str, name: &str) -> i64 {
    parse_int(py_value(source, name))
}

/// A tuple of integers on one line: `NAME = (1, 2, 3)`.
fn py_ints(source: &str, name: &str) -> Vec<i64> {
    let value = py_value(source, name);
    let inner = value
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{name} is not a one-line tuple: {value}"));
    inner
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(parse_int)
        .collect()
}

fn syscall(name: &str) -> i64 {
    SYSCALLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, nr)| *nr)
        .unwrap_or_else(|| panic!("{name} is not in SYSCALLS: add its x86_64 number"))
}

/// The hexadecimal number that follows `marker` in `text`.
fn hex_after(text: &str, marker: &str) -> i64 {
    let (_, rest) = text
        .split_once(marker)
        .unwrap_or_else(|| panic!("{marker:?} not in {text:?}"));
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    parse_int(&rest[..end])
}

#[test]
fn a_forked_child_refuses_every_call_a_run_may_not_make() {
    // RUN_POLICY_TAIL refuses these to every run; the zygote's policy allows them (in part), so
    // only the child's own filter takes them back.
    let (_, rest) = RUN_POLICY_TAIL.split_once('{').unwrap();
    let (list, _) = rest.split_once('}').unwrap();
    let refused: Vec<&str> = list.split(',').map(str::trim).collect();
    assert!(
        refused.contains(&"mount"),
        "{RUN_POLICY_TAIL} parsed as {refused:?}"
    );
    let denied = py_ints(ZYGOTE, "CHILD_DENIED_SYSCALLS");
    for name in refused {
        assert!(
            denied.contains(&syscall(name)),
            "zygote.py's CHILD_DENIED_SYSCALLS {denied:?} lacks {name} ({}), which {RUN_POLICY_TAIL:?} refuses",
            syscall(name)
        );
    }
    // And every number there is a call named above (a typo would deny some other call).
    for nr in &denied {
        assert!(
            SYSCALLS.iter().any(|(_, n)| n == nr),
            "CHILD_DENIED_SYSCALLS has {nr}, which is none of {SYSCALLS:?}"
        );
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn the_syscall_numbers_are_x86_64s() {
    use nix::libc;
    let libc_numbers = [
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
    ];
    for ((name, nr), real) in SYSCALLS.iter().zip(libc_numbers) {
        assert_eq!(*nr, real, "{name}");
    }
}

#[test]
fn the_zygote_policy_allows_what_zygote_py_unshares_and_nothing_more() {
    use nix::libc;
    let clone = |name: &str| py_int(ZYGOTE, name);
    // setns: only back into a pid namespace (the zygote's own, after each fork).
    assert_eq!(
        hex_after(ZYGOTE_POLICY_TAIL, "nstype != "),
        clone("CLONE_NEWPID")
    );
    // unshare: never a user, cgroup or time namespace; every namespace zygote.py makes.
    let refused = hex_after(ZYGOTE_POLICY_TAIL, "unshare_flags & ");
    let never = libc::CLONE_NEWUSER | libc::CLONE_NEWCGROUP | libc::CLONE_NEWTIME;
    assert_eq!(refused, i64::from(never), "{ZYGOTE_POLICY_TAIL}");
    for (name, real) in [
        ("CLONE_NEWNS", libc::CLONE_NEWNS),
        ("CLONE_NEWUTS", libc::CLONE_NEWUTS),
        ("CLONE_NEWIPC", libc::CLONE_NEWIPC),
        ("CLONE_NEWPID", libc::CLONE_NEWPID),
        ("CLONE_NEWNET", libc::CLONE_NEWNET),
    ] {
        assert_eq!(clone(name), i64::from(real), "zygote.py's {name}");
        assert_eq!(
            refused & clone(name),
            0,
            "{ZYGOTE_POLICY_TAIL:?} refuses {name}"
        );
    }
}

#[test]
fn zygote_py_has_linuxs_numbers() {
    use nix::libc;
    for (name, real) in [
        ("MS_RDONLY", libc::MS_RDONLY),
        ("MS_NOSUID", libc::MS_NOSUID),
        ("MS_NODEV", libc::MS_NODEV),
        ("MS_NOEXEC", libc::MS_NOEXEC),
        ("MS_REMOUNT", libc::MS_REMOUNT),
        ("MS_REC", libc::MS_REC),
        ("MS_PRIVATE", libc::MS_PRIVATE),
    ] {
        assert_eq!(py_int(ZYGOTE, name), i64::try_from(real).unwrap(), "{name}");
    }
    for (name, real) in [
        ("PR_SET_SECCOMP", libc::PR_SET_SECCOMP),
        ("PR_CAPBSET_DROP", libc::PR_CAPBSET_DROP),
        ("PR_CAP_AMBIENT", libc::PR_CAP_AMBIENT),
        ("PR_CAP_AMBIENT_CLEAR_ALL", libc::PR_CAP_AMBIENT_CLEAR_ALL),
    ] {
        assert_eq!(py_int(ZYGOTE, name), i64::from(real), "{name}");
    }
    assert_eq!(
        py_int(ZYGOTE, "SECCOMP_MODE_FILTER"),
        i64::from(libc::SECCOMP_MODE_FILTER)
    );
}

#[test]
fn a_forked_child_gets_the_dev_shm_of_a_cold_jail() {
    let line = CONFIG
        .lines()
        .find(|l| l.starts_with("mount {") && l.contains(r#"dst: "/dev/shm""#))
        .expect("python.cfg mounts /dev/shm");
    let (_, rest) = line.split_once(r#"options: ""#).unwrap();
    let (options, _) = rest.split_once('"').unwrap();
    assert_eq!(options, format!("size={SHM_MIB}m,mode=1777"), "{line}");
    // zygote.py mounts the child's with the same options, its size from the set-up (SHM_MIB).
    assert!(
        ZYGOTE.contains(r#"("size=%dm,mode=1777" % cfg["shm_mib"])"#),
        "zygote.py's /dev/shm options differ from the config's"
    );
}

#[test]
fn the_result_channel_is_the_same_fd() {
    assert_eq!(py_int(RUNNER, "RESULT_FD"), i64::from(RESULT_FD));
    assert_eq!(py_int(ZYGOTE, "CONTROL_FD"), i64::from(RESULT_FD));
}

#[test]
fn the_ready_mark_is_the_same_byte() {
    assert_eq!(
        py_value(RUNNER, "READY_MARK"),
        format!("b\"{}\"", char::from(READY_MARK))
    );
}

#[test]
fn the_jail_runs_the_venvs_python() {
    assert_eq!(RUNNER_COMMAND[0], format!("{JAIL_VENV}/bin/python3"));
}

#[test]
fn the_queued_signal_limit_is_the_one_its_attack_expects() {
    assert_eq!(
        py_int(RUNNER, "MAX_QUEUED_SIGNALS"),
        py_int(QUEUED_SIGNALS_ATTACK, "LIMIT")
    );
}

#[test]
fn the_longest_output_name_fits_the_frames_room_per_file() {
    let name = usize::try_from(py_int(WORKDIR, "MAX_OUTPUT_NAME_BYTES")).unwrap();
    assert_eq!(name, crate::file_names::MAX_OUTPUT_PATH_BYTES);
    // json.dumps escapes a control byte as \u00XX: six bytes for one. What else a file's entry
    // holds besides its content (workdir.py's _files_json):
    let fields = r#"{"name":"","content_base64":""},"#.len();
    assert!(
        6 * name + fields <= FRAME_ROOM_PER_FILE,
        "a name of {name} bytes may take {} bytes of the frame; it has room for {FRAME_ROOM_PER_FILE}",
        6 * name + fields
    );
}

#[test]
fn the_runner_loads_the_modules_the_server_sends() {
    // runner.py's MODULES, a one-line tuple of strings: the runner fails on a name the set-up line
    // lacks, and would never load one it does not list. The same order too (the runner's loading
    // order), so that the two lists read alike.
    let value = py_value(RUNNER, "MODULES");
    let listed: Vec<&str> = value
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or_else(|| panic!("MODULES is not a one-line tuple: {value}"))
        .split(',')
        .map(|name| name.trim().trim_matches('"'))
        .filter(|name| !name.is_empty())
        .collect();
    let sent: Vec<&str> = RUNNER_MODULES.iter().map(|(name, _)| *name).collect();
    assert_eq!(listed, sent);
}

/// Every mount nsjail makes (the config's, nsjail.rs's /tmp and venv, the /proc of `mount_proc`)
/// has its empty mount point in chroot/manifest: nsjail cannot create one in the read-only root.
#[test]
fn every_mount_has_its_mount_point_in_the_jails_root() {
    const MANIFEST: &str = include_str!("../../chroot/manifest");
    let points: Vec<&str> = MANIFEST
        .lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or_default().trim();
            l.strip_prefix("dir ").or_else(|| l.strip_prefix("file "))
        })
        .map(str::trim)
        .collect();
    let mut mounts: Vec<&str> = CONFIG
        .lines()
        .filter(|l| l.starts_with("mount {"))
        .filter_map(|l| l.split_once(r#"dst: ""#)?.1.split_once('"').map(|(d, _)| d))
        .collect();
    assert!(mounts.len() >= 5, "python.cfg's mounts: {mounts:?}");
    mounts.extend(["/tmp", "/proc", JAIL_VENV]);
    for mount in mounts {
        assert!(
            points.contains(&mount),
            "{mount} is mounted but chroot/manifest has no `dir` or `file` entry for it"
        );
    }
}
