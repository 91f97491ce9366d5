//! `run` against a fake kernel: what a user reads when map creation, loading or attaching
//! fails, without root or BPF. Every system call of the run goes to a fake that behaves
//! like a working kernel except for the one call a test makes fail (`bpfscope_sys::fake`).
//!
//! These tests use only the public API (`run`, `RunConfig`, the error's text) so they
//! survive changes to the runtime's insides; the wrappers' own error paths are unit-tested
//! in `bpfscope-sys`.

use std::{
    io,
    sync::mpsc::{self, RecvTimeoutError},
    time::Duration,
};

use bpfscope_compiler::{compile, target::Fixture, Compiled, Options};
use bpfscope_runtime::{run, RunConfig};
use bpfscope_syntax::{Diagnostics, SourceFile};
use bpfscope_sys::{
    fake::{errno, fd, override_syscall},
    BpfCmd, PerfIoctl, Syscall,
};

fn compiled(program: &str) -> Compiled {
    let file = SourceFile::new("test.bt", program);
    let mut diags = Diagnostics::default();
    let compiled = compile(&file, &Fixture, &Options::default(), &mut diags);
    compiled.unwrap_or_else(|| panic!("{}", diags.render(&file)))
}

fn config() -> RunConfig {
    RunConfig {
        format: bpfscope_output::text::FORMAT,
        out: Box::new(Vec::new()),
        quiet: true,
        dry_run: false,
        child: None,
        verbose: false,
        stats: false,
        no_warnings: false,
        symbol_lines: false,
        also: Vec::new(),
    }
}

/// The calls of a working kernel: new fds, rings that stay empty, success, root.
fn working_kernel(call: Syscall<'_>) -> io::Result<i64> {
    match call {
        Syscall::Geteuid => Ok(0),
        Syscall::EffectiveCapabilities => Ok(i64::MAX),
        Syscall::Bpf { cmd: BpfCmd::MapLookupElem, .. } => Err(errno(libc::ENOENT)),
        Syscall::Bpf { cmd: BpfCmd::MapCreate | BpfCmd::ProgLoad | BpfCmd::BtfLoad, .. }
        | Syscall::Bpf { cmd: BpfCmd::RawTracepointOpen, .. }
        | Syscall::PerfEventOpen { .. } => Ok(fd()),
        _ => Ok(0),
    }
}

/// Runs `program` on a working kernel, except for the calls `differ` answers itself. The
/// run happens on its own thread (the override is per thread) and must end within 30 s: a
/// run that gets as far as the event loop would wait forever for events from the fake.
fn run_on<F>(
    program: &str,
    config: impl FnOnce() -> RunConfig + Send + 'static,
    differ: F,
) -> Result<i32, String>
where
    F: FnMut(&mut Syscall<'_>) -> Option<io::Result<i64>> + Send + 'static,
{
    let compiled = compiled(program);
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let mut differ = differ;
        let _kernel = override_syscall(move |mut call| match differ(&mut call) {
            Some(answer) => answer,
            None => working_kernel(call),
        });
        let _ = done.send(run(&compiled, config()).map_err(|error| error.to_string()));
    });
    match result.recv_timeout(Duration::from_secs(30)) {
        Ok(outcome) => outcome,
        Err(RecvTimeoutError::Timeout) => panic!("the run did not stop at the fake failure"),
        Err(RecvTimeoutError::Disconnected) => panic!("the run panicked (see above)"),
    }
}

/// What the user reads when `program` runs on a kernel where `differ` answers.
fn run_error<F>(program: &str, differ: F) -> String
where
    F: FnMut(&mut Syscall<'_>) -> Option<io::Result<i64>> + Send + 'static,
{
    match run_on(program, config, differ) {
        Ok(code) => panic!("the run succeeded (exit {code})"),
        Err(message) => message,
    }
}

/// Fails the calls `which` selects with `code`.
fn failing(
    code: i32,
    which: impl Fn(&Syscall<'_>) -> bool + Send + 'static,
) -> impl FnMut(&mut Syscall<'_>) -> Option<io::Result<i64>> + Send + 'static {
    move |call| which(call).then(|| Err(errno(code)))
}

#[test]
fn a_working_fake_kernel_loads_everything() {
    // The baseline of the tests below: with nothing failing, a dry run loads and returns.
    let dry_run = || RunConfig { dry_run: true, ..config() };
    assert_eq!(run_on("interval:s:1 { @ = count(); }", dry_run, |_| None), Ok(0));
}

#[test]
fn not_root_is_explained() {
    let message = run_error("BEGIN { exit(); }", |call| match call {
        Syscall::Geteuid => Some(Ok(1000)),
        Syscall::EffectiveCapabilities => Some(Ok(0)),
        _ => panic!("nothing is loaded without the capabilities"),
    });
    assert!(message.starts_with("bpfscope lacks CAP_BPF and CAP_PERFMON"), "{message}");
    // CAP_BPF and CAP_PERFMON as root: enough.
    let caps = 1 << 39 | 1 << 38;
    let run = run_on("BEGIN { exit(); }", config, move |call| match call {
        Syscall::EffectiveCapabilities => Some(Ok(caps)),
        _ => None,
    });
    assert_eq!(run, Ok(0));
}

#[test]
fn map_creation_failure_keeps_the_errno() {
    let map_create =
        |call: &Syscall<'_>| matches!(call, Syscall::Bpf { cmd: BpfCmd::MapCreate, .. });
    let message = run_error("interval:s:1 { @ = count(); }", failing(libc::ENOMEM, map_create));
    assert!(
        message.starts_with("cannot create map ")
            && message.contains("BPF_MAP_CREATE failed: Cannot allocate memory (os error 12)")
            && message.contains("lower `max_map_keys`"),
        "{message}"
    );
}

#[test]
fn eperm_on_load_names_the_probe() {
    let load = |call: &Syscall<'_>| matches!(call, Syscall::Bpf { cmd: BpfCmd::ProgLoad, .. });
    assert_eq!(
        run_error("interval:s:1 { @ = count(); }", failing(libc::EPERM, load)),
        "cannot load probe `interval:s:1`: BPF_PROG_LOAD failed: Operation not permitted (os error 1)"
    );
}

#[test]
fn a_verifier_rejection_quotes_the_verifiers_complaint() {
    let log = "0: R1=ctx() R10=fp0\n0: (bf) r6 = r1\n1: (79) r1 = *(u64 *)(r10 -8)\ninvalid read from stack off -8+0 size 8\nprocessed 2 insns (limit 1000000)\n";
    let message = run_error("interval:s:1 { @ = count(); }", move |call| {
        let load = matches!(call, Syscall::Bpf { cmd: BpfCmd::ProgLoad, .. });
        load.then(|| {
            call.fill_log(log);
            Err(errno(libc::EACCES))
        })
    });
    assert_eq!(
        message,
        "the kernel verifier rejected probe `interval:s:1`: invalid read from stack off -8+0 size 8"
    );
}

#[test]
fn attach_failures_keep_the_errno() {
    let open = |call: &Syscall<'_>| matches!(call, Syscall::PerfEventOpen { .. });
    assert_eq!(
        run_error("interval:s:1 { @ = count(); }", failing(libc::EOPNOTSUPP, open)),
        "cannot attach probe `interval:s:1`: perf_event_open failed: Operation not supported (os error 95)"
    );
    let set_bpf = |call: &Syscall<'_>| {
        matches!(call, Syscall::PerfEventIoctl { request: PerfIoctl::SetBpf, .. })
    };
    assert_eq!(
        run_error("interval:s:1 { @ = count(); }", failing(libc::EINVAL, set_bpf)),
        "cannot attach probe `interval:s:1`: ioctl(PERF_EVENT_IOC_SET_BPF) failed: Invalid argument (os error 22)"
    );
}

#[test]
fn a_missing_raw_tracepoint_is_explained() {
    let open =
        |call: &Syscall<'_>| matches!(call, Syscall::Bpf { cmd: BpfCmd::RawTracepointOpen, .. });
    let message =
        run_error("rawtracepoint:sched_switch { @ = count(); }", failing(libc::ENOENT, open));
    assert!(message.starts_with("cannot attach probe `rawtracepoint:sched_switch`: BPF_RAW_TRACEPOINT_OPEN failed: No such file or directory"), "{message}");
    assert!(message.ends_with("(is `sched_switch` a kernel tracepoint?)"), "{message}");
}
