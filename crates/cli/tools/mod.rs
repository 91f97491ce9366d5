//! The tools registry: the scripts of `tools/`, compiled into the binary, each with its
//! category, its one-line description, the options it takes (BCC's letters and meanings) and
//! its examples. `bpfscope biolatency -mT 1 5` runs the embedded `tools/biolatency.bt` with
//! the named program options `--milliseconds --timestamp --interval=1 --count=5`, which the
//! script reads with `getopt()` (see `options.rs`; `commands/run_tool.rs` parses the command
//! line and prints `-h` and usage errors in BCC's form).
//!
//! Adding a tool: write `tools/NAME.bt` (with a header whose first line is
//! `NAME - DESCRIPTION`, reading each option as `getopt("LONG-NAME", default)`) and add one
//! `tool!` entry to [`TOOLS`].

mod options;

pub use options::{attach_points, Kind, Opt};

/// The book's chapters ("BPF Performance Tools"), which `bpfscope tools` groups the tools by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Cpu,
    Memory,
    FileSystems,
    Disk,
    Network,
    Security,
    Languages,
    Applications,
    Kernel,
    Containers,
    Hypervisors,
}

impl Category {
    /// Every category, in the book's order.
    pub const ALL: [Category; 11] = [
        Category::Cpu,
        Category::Memory,
        Category::FileSystems,
        Category::Disk,
        Category::Network,
        Category::Security,
        Category::Languages,
        Category::Applications,
        Category::Kernel,
        Category::Containers,
        Category::Hypervisors,
    ];

    /// Its heading in `bpfscope tools`.
    pub fn title(self) -> &'static str {
        match self {
            Category::Cpu => "CPU",
            Category::Memory => "memory",
            Category::FileSystems => "file systems",
            Category::Disk => "disk",
            Category::Network => "network",
            Category::Security => "security",
            Category::Languages => "languages",
            Category::Applications => "applications",
            Category::Kernel => "kernel",
            Category::Containers => "containers",
            Category::Hypervisors => "hypervisors",
        }
    }
}

/// One embedded tool.
pub struct Tool {
    /// The name it is run by: `bpfscope NAME`.
    pub name: &'static str,
    /// Where `bpfscope tools` lists it.
    pub category: Category,
    /// One line for `bpfscope tools` and `-h` (the same as the script header's).
    pub about: &'static str,
    /// The program, `tools/NAME.bt`.
    pub script: &'static str,
    /// Its own options, with BCC's letters, in the order `-h` lists them; positionals last.
    pub options: &'static [Opt],
    /// `-h`'s examples: the arguments after `bpfscope NAME`, and what they do.
    pub examples: &'static [(&'static str, &'static str)],
    /// The script for kernels without what `script` needs, `tools/fallback/NAME.bt` (the
    /// same options and output): what it needs, and that script.
    pub fallback: Option<(Needs, &'static str)>,
}

/// A kernel facility that a tool's script needs and its fallback script does without.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// A tracepoint, `SYSTEM/EVENT` under tracefs's `events/`.
    Tracepoint(&'static str),
    /// A member of a kernel struct in the kernel's BTF: (`struct NAME`, member).
    Member(&'static str, &'static str),
}

impl Tool {
    /// The script to run on this kernel: `script`, or the fallback when the kernel lacks
    /// what `script` needs (`has` answers whether it has it).
    pub fn script_for(&self, has: impl Fn(Needs) -> bool) -> &'static str {
        match self.fallback {
            Some((needs, fallback)) if !has(needs) => fallback,
            _ => self.script,
        }
    }
}

/// A [`Tool`] whose script is `tools/NAME.bt`.
macro_rules! tool {
    ($name:literal, $category:ident, $about:literal,
     options: $options:expr, examples: $examples:expr $(,)?) => {
        Tool {
            name: $name,
            category: Category::$category,
            about: $about,
            script: include_str!(concat!("../../../tools/", $name, ".bt")),
            options: $options,
            examples: $examples,
            fallback: None,
        }
    };
    ($name:literal, $category:ident, $about:literal,
     options: $options:expr, examples: $examples:expr, fallback: $needs:expr $(,)?) => {
        Tool {
            fallback: Some((
                $needs,
                include_str!(concat!("../../../tools/fallback/", $name, ".bt")),
            )),
            ..tool!($name, $category, $about, options: $options, examples: $examples)
        }
    };
}

/// BCC's `[interval] [count]` of the summary tools.
const INTERVAL_COUNT: [Opt; 2] = [
    Opt::positional("interval", "output interval, in seconds"),
    Opt::positional("count", "number of outputs"),
];

/// Every embedded tool, in the order `bpfscope tools` lists them within a category.
#[rustfmt::skip]
pub const TOOLS: &[Tool] = &[
    tool!("biolatency", Disk, "Summarize block device I/O latency as a histogram.",
        options: &[
            Opt::flag('T', "timestamp", "include timestamp on output"),
            Opt::flag('Q', "queued", "include OS queued time in I/O time"),
            Opt::flag('m', "milliseconds", "millisecond histogram"),
            Opt::flag('D', "disks", "print a histogram per disk device"),
            Opt::flag('F', "flags", "print a histogram per set of I/O flags"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("", "summarize block I/O latency as a histogram"),
            ("1 10", "print 1 second summaries, 10 times"),
            ("-mT 1", "1s summaries, milliseconds, and timestamps"),
            ("-Q", "include OS queued time in I/O time"),
            ("-D", "show each disk device separately"),
            ("-F", "show I/O flags separately"),
        ]),
    tool!("bitesize", Disk, "Summarize block device I/O size as a histogram, by process name.",
        options: &[],
        examples: &[("", "block I/O size histograms by process name, printed at Ctrl-C")]),
    tool!("biosnoop", Disk, "Trace block device I/O with PID and latency.",
        options: &[
            Opt::flag('Q', "queued", "include OS queued time in I/O time"),
            Opt::number('p', "pid", "PID", "trace the I/O this PID issues only"),
        ],
        examples: &[
            ("", "trace all block device I/O"),
            ("-Q", "include OS queued time in I/O time"),
            ("-p 181", "only the I/O that PID 181 issues"),
        ]),
    tool!("biopattern", Disk, "Identify random/sequential disk access patterns.",
        options: &[
            Opt::flag('T', "timestamp", "include timestamp on output"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("", "show block device I/O pattern, at Ctrl-C"),
            ("1 10", "print 1 second summaries, 10 times"),
            ("-T 1", "1s summaries with timestamps"),
        ]),
    tool!("biostacks", Disk, "Show disk I/O latency with initialization stacks.",
        options: &[],
        examples: &[("", "request start to issue latency by kernel stack, printed at Ctrl-C")]),
    tool!("biotop", Disk, "Block device (disk) I/O by process.",
        options: &[
            Opt::flag('C', "noclear", "don't clear the screen"),
            Opt::number('r', "maxrows", "MAXROWS", "maximum rows to print, default 20"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("", "block device I/O top, 1 second refresh"),
            ("-C", "don't clear the screen"),
            ("-p 181", "only trace PID 181"),
            ("5", "5 second summaries"),
            ("5 10", "5 second summaries, 10 times only"),
        ]),
    tool!("mdflush", Disk, "Trace md flush events.",
        options: &[],
        examples: &[("", "trace md flush events (needs kprobes)")]),
    tool!("execsnoop", Cpu, "Trace new processes via exec() syscalls.",
        options: &[
            Opt::flag('T', "time", "include time column on output (HH:MM:SS)"),
            Opt::flag('t', "timestamp", "include timestamp on output"),
            Opt::flag('x', "fails", "include failed exec()s"),
            Opt::text('n', "name", "NAME", "only print commands whose name contains NAME"),
            Opt::text('l', "line", "LINE", "only print commands where an argument contains LINE"),
        ],
        examples: &[
            ("", "trace all exec() syscalls"),
            ("-x", "include failed exec()s"),
            ("-T", "include time (HH:MM:SS)"),
            ("-t", "include timestamps"),
            ("-n main", "only print commands whose name contains \"main\""),
            ("-l tpkg", "only print commands where an argument contains \"tpkg\""),
        ]),
    tool!("opensnoop", FileSystems, "Trace open() syscalls.",
        options: &[
            Opt::flag('T', "timestamp", "include timestamp on output"),
            Opt::flag('x', "failed", "only show failed opens"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::number('t', "tid", "TID", "trace this TID only"),
            Opt::text('n', "name", "NAME", "only print process names containing this name"),
            Opt::number('d', "duration", "DURATION", "total duration of trace in seconds"),
            Opt::flag('e', "extended_fields", "show extended fields"),
        ],
        examples: &[
            ("", "trace all open() syscalls"),
            ("-T", "include timestamps"),
            ("-x", "only show failed opens"),
            ("-p 181", "only trace PID 181"),
            ("-t 123", "only trace TID 123"),
            ("-d 10", "trace for 10 seconds only"),
            ("-n main", "only print process names containing \"main\""),
            ("-e", "show extended fields"),
        ]),
    tool!("syncsnoop", FileSystems, "Trace sync() variety of syscalls.",
        options: &[Opt::number('p', "pid", "PID", "trace this PID only")],
        examples: &[
            ("", "trace sync(), fsync() and the like"),
            ("-p 181", "only trace PID 181"),
        ]),
    tool!("statsnoop", FileSystems, "Trace stat() syscalls.",
        options: &[
            Opt::flag('t', "timestamp", "include timestamp on output"),
            Opt::flag('x', "failed", "only show failed stats"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
        ],
        examples: &[
            ("", "trace all stat() syscalls"),
            ("-t", "include timestamps"),
            ("-x", "only show failed stats"),
            ("-p 181", "only trace PID 181"),
        ]),
    tool!("writeback", FileSystems, "Trace file system writeback events with details.",
        options: &[],
        examples: &[("", "trace writeback events with device, pages, reason and duration")]),
    tool!("filelife", FileSystems, "Trace the lifespan of short-lived files.",
        options: &[Opt::number('p', "pid", "PID", "trace this PID only")],
        examples: &[
            ("", "trace the lifespan of short-lived files (ext4)"),
            ("-p 181", "only the files PID 181 deletes"),
        ]),
    tool!("cachestat", FileSystems, "Count cache kernel function calls.",
        options: &[
            Opt::flag('T', "timestamp", "include timestamp on output"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("", "run with default option of 1 second delay"),
            ("-T", "include timestamps"),
            ("1 5", "print every second, 5 times"),
        ]),
    tool!("readahead", FileSystems, "Show performance of read-ahead cache.",
        options: &[Opt::number('d', "duration", "DURATION", "total duration to monitor for, in seconds")],
        examples: &[("-d 20", "monitor for 20 seconds and generate stats")]),
    tool!("fsdist", FileSystems, "Summarize file system operations latency.",
        options: &[
            Opt::filesystem('t', "type", "which filesystem to trace: ext4 (default), xfs or btrfs"),
            Opt::flag('T', "timestamp", "include timestamp on output"),
            Opt::flag('m', "milliseconds", "millisecond histogram"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("-t ext4", "show ext4 operations latency as a histogram"),
            ("-t xfs -p 1216", "trace xfs operations with PID 1216 only"),
            ("-t btrfs 1 10", "print 1 second summaries, 10 times"),
            ("-t ext4 -m 5", "5s summaries, milliseconds"),
        ]),
    tool!("fsslower", FileSystems, "Trace file system operations slower than a threshold.",
        options: &[
            Opt::filesystem('t', "type", "which filesystem to trace: ext4 (default), xfs or btrfs"),
            Opt::number('p', "pid", "PID", "process ID to trace"),
            Opt::number('m', "min", "MIN", "min latency to trace, in ms (default 10)"),
            Opt::number('d', "duration", "DURATION", "total duration of trace in seconds"),
        ],
        examples: &[
            ("-t ext4", "trace ext4 operations slower than 10 ms"),
            ("-t xfs -p 1216", "trace xfs operations with PID 1216 only"),
            ("-t btrfs -m 1", "trace btrfs operations slower than 1 ms"),
            ("-t ext4 -m 0", "trace every ext4 operation"),
            ("-t ext4 -d 10", "trace for 10 seconds only"),
        ]),
    tool!("filetop", FileSystems, "File reads and writes by process.",
        options: &[
            Opt::flag('a', "all-files", "include non-regular file types (sockets, FIFOs, etc)"),
            Opt::flag('C', "noclear", "don't clear the screen"),
            Opt::number('r', "maxrows", "MAXROWS", "maximum rows to print, default 20"),
            Opt::choice('s', "sort", "SORT", &["all", "reads", "writes", "rbytes", "wbytes"], "sort column, default all"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("", "file I/O top, 1 second refresh"),
            ("-C", "don't clear the screen"),
            ("-p 181", "PID 181 only"),
            ("5", "5 second summaries"),
            ("5 10", "5 second summaries, 10 times only"),
        ]),
    tool!("vfscount", FileSystems, "Count VFS calls.",
        options: &[],
        examples: &[("", "count vfs_* calls by function (needs kprobes)")]),
    tool!("vfsstat", FileSystems, "Count some VFS calls, with per-second summaries.",
        options: &[],
        examples: &[("", "per-second counts of key VFS calls (needs kprobes)")]),
    tool!("dcsnoop", FileSystems, "Trace directory entry cache (dcache) lookups.",
        options: &[],
        examples: &[("", "trace dcache lookups and misses (needs kprobes)")]),
    tool!("xfsdist", FileSystems, "Summarize XFS operation latency distribution as a histogram.",
        options: &[],
        examples: &[("", "XFS read/write/open/fsync latency histograms (needs kprobes)")]),
    tool!("swapin", Memory, "Count swapins by process.",
        options: &[],
        examples: &[("", "per-second counts of swap-ins by process (needs kprobes)")]),
    tool!("profile", Cpu, "Profile CPU usage by sampling stack traces at a timed interval.",
        options: &[
            Opt::number('p', "pid", "PID", "profile this PID only"),
            Opt::flag('U', "user-stacks-only", "show stacks from user space only (no kernel space stacks)"),
            Opt::flag('K', "kernel-stacks-only", "show stacks from kernel space only (no user space stacks)"),
            Opt::number('F', "frequency", "FREQUENCY", "sample frequency, Hertz: 49 (default), 99 or 999"),
            Opt::flag('f', "folded", "output folded format, one line per stack (for flame graphs)"),
            Opt::positional("duration", "duration of trace, in seconds"),
        ],
        examples: &[
            ("", "profile stack traces at 49 Hertz until Ctrl-C"),
            ("-F 99", "profile stack traces at 99 Hertz"),
            ("5", "profile at 49 Hertz for 5 seconds only"),
            ("-f 5", "output in folded format for flame graphs"),
            ("-p 185", "only profile process with PID 185"),
            ("-U", "only show user space stacks (no kernel)"),
            ("-K", "only show kernel space stacks (no user)"),
        ]),
    tool!("offcputime", Cpu, "Summarize off-CPU time by stack trace.",
        options: &[
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::flag('U', "user-stacks-only", "show stacks from user space only (no kernel space stacks)"),
            Opt::flag('K', "kernel-stacks-only", "show stacks from kernel space only (no user space stacks)"),
            Opt::number('m', "min-block-time", "MIN_BLOCK_TIME", "the amount of time in microseconds over which we store traces (default 1)"),
            Opt::number('M', "max-block-time", "MAX_BLOCK_TIME", "the amount of time in microseconds under which we store traces (default U32_MAX)"),
            Opt::flag('f', "folded", "output folded format"),
            Opt::positional("duration", "duration of trace, in seconds"),
        ],
        examples: &[
            ("", "trace off-CPU stack time until Ctrl-C"),
            ("5", "trace for 5 seconds only"),
            ("-f 5", "5 seconds, and output in folded format"),
            ("-m 1000", "trace only events that last more than 1000 usec"),
            ("-M 10000", "trace only events that last less than 10000 usec"),
            ("-p 185", "only trace threads for PID 185"),
            ("-U", "only show user space stacks (no kernel)"),
            ("-K", "only show kernel space stacks (no user)"),
        ]),
    tool!("cpudist", Cpu, "Summarize on-CPU time per task as a histogram.",
        options: &[
            Opt::flag('O', "offcpu", "measure off-CPU time"),
            Opt::flag('T', "timestamp", "include timestamp on output"),
            Opt::flag('m', "milliseconds", "millisecond histogram"),
            Opt::flag('P', "pids", "print a histogram per process ID"),
            Opt::flag('L', "tids", "print a histogram per thread ID"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("", "summarize on-CPU time as a histogram"),
            ("-O", "summarize off-CPU time as a histogram"),
            ("1 10", "print 1 second summaries, 10 times"),
            ("-mT 1", "1s summaries, milliseconds, and timestamps"),
            ("-P", "show each PID separately"),
            ("-p 185", "trace PID 185 only"),
        ]),
    tool!("runqlen", Cpu, "CPU scheduler run queue length as a histogram.",
        options: &[],
        examples: &[("", "sample run queue length at 99 Hertz, printed at Ctrl-C")],
        fallback: Needs::Member("struct cfs_rq", "nr_queued")),
    tool!("cpuwalk", Cpu, "Sample which CPUs are executing processes.",
        options: &[],
        examples: &[("", "sample the CPUs running processes at 99 Hertz, printed at Ctrl-C")]),
    tool!("exitsnoop", Cpu, "Trace process termination (exit and fatal signals).",
        options: &[
            Opt::flag('t', "timestamp", "include timestamp (local time default)"),
            Opt::flag('x', "failed", "trace only fails, exclude exit(0)"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::flag('T', "per-thread", "trace per thread termination").long_only(),
        ],
        examples: &[
            ("", "trace all process termination"),
            ("-x", "trace only fails, exclude exit(0)"),
            ("-t", "include timestamps (local time)"),
            ("-p 181", "only trace PID 181"),
            ("--per-thread", "trace per thread termination"),
        ]),
    tool!("pidpersec", Cpu, "Count new processes (via fork) per second.",
        options: &[],
        examples: &[("", "print the number of new processes every second")]),
    tool!("llcstat", Cpu, "Summarize last level cache references and misses by process.",
        options: &[Opt::positional("duration", "duration of trace, in seconds")],
        examples: &[("", "sample cache references and misses until Ctrl-C"), ("20", "for 20 seconds")]),
    tool!("loads", Cpu, "Print load averages.",
        options: &[],
        examples: &[("", "print the load averages every second")]),
    tool!("runqslower", Cpu, "Trace high run queue latency.",
        options: &[
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::number('t', "tid", "TID", "trace this TID only"),
            Opt::flag('P', "previous", "also show previous task name and TID"),
            Opt::positional("min_us", "minimum run queue latency to trace, in us (default 10000)"),
        ],
        examples: &[
            ("", "trace run queue latency higher than 10000 us (default)"),
            ("1000", "trace run queue latency higher than 1000 us"),
            ("-p 123", "trace pid 123"),
            ("-t 123", "trace tid 123 (use for threads only)"),
            ("-P", "also show previous task comm and TID"),
        ]),
    tool!("wakeuptime", Cpu, "Summarize sleep to wakeup time by waker kernel stack.",
        options: &[
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::number('m', "min-block-time", "MIN_BLOCK_TIME", "the amount of time in microseconds over which we store traces (default 1)"),
            Opt::number('M', "max-block-time", "MAX_BLOCK_TIME", "the amount of time in microseconds under which we store traces (default U32_MAX)"),
            Opt::flag('f', "folded", "output folded format"),
            Opt::positional("duration", "duration of trace, in seconds"),
        ],
        examples: &[
            ("", "trace blocked time with waker stacks"),
            ("5", "trace for 5 seconds only"),
            ("-f 5", "trace for 5 seconds, and emit folded output"),
            ("-p 185", "only trace threads for PID 185"),
            ("-m 1000", "trace only events that last more than 1000 usec"),
        ]),
    tool!("softirqs", Cpu, "Summarize soft IRQ (interrupt) event time.",
        options: &[
            Opt::flag('T', "timestamp", "include timestamp on output"),
            Opt::flag('N', "nanoseconds", "output in nanoseconds"),
            Opt::flag('d', "dist", "show distributions as histograms"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("", "sum soft irq event time"),
            ("-d", "show soft irq event time as histograms"),
            ("1 10", "print 1 second summaries, 10 times"),
            ("-NT 1", "1s summaries, nanoseconds, and timestamps"),
        ]),
    tool!("hardirqs", Cpu, "Summarize hard IRQ (interrupt) event time.",
        options: &[
            Opt::flag('T', "timestamp", "include timestamp on output"),
            Opt::flag('N', "nanoseconds", "output in nanoseconds"),
            Opt::flag('C', "events", "show event counts instead of timing"),
            Opt::flag('d', "dist", "show distributions as histograms"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("", "sum hard irq event time"),
            ("-d", "show hard irq event time as histograms"),
            ("1 10", "print 1 second summaries, 10 times"),
            ("-NT 1", "1s summaries, nanoseconds, and timestamps"),
            ("-C", "count hard irq events"),
        ]),
    tool!("cpufreq", Cpu, "Sample CPU frequency system-wide and by process.",
        options: &[],
        examples: &[("", "sample CPU frequencies at 100 Hertz, printed at Ctrl-C")]),
    tool!("runqlat", Cpu, "Summarize run queue (scheduler) latency as a histogram.",
        options: &[
            Opt::flag('T', "timestamp", "include timestamp on output"),
            Opt::flag('m', "milliseconds", "millisecond histogram"),
            Opt::flag('P', "pids", "print a histogram per process ID"),
            Opt::flag('N', "pidnss", "print a histogram per PID namespace").long_only(),
            Opt::flag('L', "tids", "print a histogram per thread ID"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::cgroup("cgroup", "trace the tasks of this cgroup (v2 path) only"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("", "summarize run queue latency as a histogram"),
            ("1 10", "print 1 second summaries, 10 times"),
            ("-mT 1", "1s summaries, milliseconds, and timestamps"),
            ("-P", "show each PID separately"),
            ("-p 185", "trace PID 185 only"),
        ]),
    tool!("syscount", Cpu, "Summarize syscall counts and latencies.",
        options: &[
            Opt::number('p', "pid", "PID", "trace only this pid"),
            Opt::number('i', "interval", "INTERVAL", "print summary at this interval (seconds)"),
            Opt::number('d', "duration", "DURATION", "total duration of trace, in seconds"),
            Opt::number('T', "top", "TOP", "print only the top syscalls by count or latency"),
            Opt::flag('x', "failures", "trace only failed syscalls (return < 0)"),
            Opt::errno('e', "errno", "ERRNO", "trace only syscalls that return this error (numeric or EPERM, etc.)"),
            Opt::flag('L', "latency", "collect syscall latency"),
            Opt::flag('m', "milliseconds", "display latency in milliseconds (default: microseconds)"),
            Opt::flag('P', "process", "count by process and not by syscall"),
        ],
        examples: &[
            ("", "count all syscalls"),
            ("-p 185", "only trace pid 185"),
            ("-i 1", "print counts every second"),
            ("-T 5", "print the top 5 syscalls"),
            ("-x", "trace only failed syscalls"),
            ("-e ENOENT", "trace only syscalls that fail with ENOENT"),
            ("-L", "measure and sort by syscall latency"),
            ("-P", "count by process"),
        ]),
    tool!("tcplife", Network, "Trace the lifespan of TCP sessions and summarize.",
        options: &[
            Opt::flag('T', "time", "include time column on output (HH:MM:SS)"),
            Opt::flag('t', "timestamp", "include timestamp on output (seconds)"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::ports('L', "localport", "LPORT", "comma-separated list of local ports to trace"),
            Opt::ports('D', "remoteport", "RPORT", "comma-separated list of remote ports to trace"),
        ],
        examples: &[
            ("", "trace all TCP sessions"),
            ("-T", "include time column (HH:MM:SS)"),
            ("-t", "include time (seconds)"),
            ("-p 181", "only trace PID 181"),
            ("-L 80", "only trace local port 80"),
            ("-L 80,81", "only trace local ports 80 and 81"),
            ("-D 80", "only trace remote port 80"),
        ]),
    tool!("tcpconnect", Network, "Trace TCP active connections (connect()).",
        options: &[
            Opt::flag('t', "timestamp", "include timestamp on output"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::ports('P', "port", "PORT", "comma-separated list of destination ports to trace"),
            Opt::flag('L', "lport", "include LPORT on output"),
            Opt::flag('U', "print-uid", "include UID on output"),
            Opt::number('u', "uid", "UID", "trace this UID only"),
            Opt::flag('c', "count", "count connects per src ip and dest ip/port"),
        ],
        examples: &[
            ("", "trace all TCP connect()s"),
            ("-t", "include timestamps"),
            ("-p 181", "only trace PID 181"),
            ("-P 80", "only trace port 80"),
            ("-P 80,81", "only trace port 80 and 81"),
            ("-L", "include LPORT while printing outputs"),
            ("-U", "include UID"),
            ("-u 1000", "only trace UID 1000"),
            ("-c", "count connects per src ip and dest ip/port"),
        ]),
    tool!("tcpaccept", Network, "Trace TCP passive connections (accept()).",
        options: &[
            Opt::flag('T', "time", "include time column on output (HH:MM:SS)"),
            Opt::flag('t', "timestamp", "include timestamp on output"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::ports('P', "port", "PORT", "comma-separated list of local ports to trace"),
            Opt::flag('4', "ipv4", "trace IPv4 family only"),
            Opt::flag('6', "ipv6", "trace IPv6 family only"),
        ],
        examples: &[
            ("", "trace all TCP accept()s"),
            ("-t", "include timestamps"),
            ("-P 80", "only trace port 80"),
            ("-P 80,81", "only trace port 80 and 81"),
            ("-p 181", "only trace PID 181"),
            ("-4", "trace IPv4 family only"),
            ("-6", "trace IPv6 family only"),
        ]),
    tool!("tcpstates", Network, "Trace the TCP session state changes with durations.",
        options: &[
            Opt::flag('T', "time", "include time column on output (HH:MM:SS)"),
            Opt::flag('t', "timestamp", "include timestamp on output (seconds)"),
            Opt::ports('L', "localport", "LPORT", "comma-separated list of local ports to trace"),
            Opt::ports('D', "remoteport", "RPORT", "comma-separated list of remote ports to trace"),
            Opt::flag('4', "ipv4", "trace IPv4 family only"),
            Opt::flag('6', "ipv6", "trace IPv6 family only"),
        ],
        examples: &[
            ("", "trace all TCP state changes"),
            ("-t", "include timestamp column"),
            ("-T", "include time column (HH:MM:SS)"),
            ("-L 80", "only trace local port 80"),
            ("-D 80", "only trace remote port 80"),
            ("-4", "trace IPv4 family only"),
        ]),
    tool!("tcpdrop", Network, "Trace TCP packets dropped by the kernel, with the drop reason.",
        options: &[
            Opt::flag('4', "ipv4", "trace IPv4 family only"),
            Opt::flag('6', "ipv6", "trace IPv6 family only"),
            Opt::flag('S', "nostack", "do not print the kernel stack").long_only(),
        ],
        examples: &[
            ("", "trace kernel TCP drops, with their stacks"),
            ("-4", "trace IPv4 family only"),
            ("--nostack", "one line per drop, without its stack"),
        ]),
    tool!("tcpretrans", Network, "Trace TCP retransmits.",
        options: &[
            Opt::flag('4', "ipv4", "trace IPv4 family only"),
            Opt::flag('6', "ipv6", "trace IPv6 family only"),
        ],
        examples: &[
            ("", "trace TCP retransmits"),
            ("-4", "trace IPv4 family only"),
            ("-6", "trace IPv6 family only"),
        ]),
    tool!("tcpconnlat", Network, "Trace TCP active connection latency (connect()).",
        options: &[
            Opt::flag('t', "timestamp", "include timestamp on output"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::flag('L', "lport", "include LPORT on output"),
            Opt::positional("min_ms", "minimum duration to trace (ms)"),
        ],
        examples: &[
            ("", "trace all TCP connect()s"),
            ("1", "trace connection latency slower than 1 ms"),
            ("-t", "include timestamps"),
            ("-p 181", "only trace PID 181"),
            ("-L", "include LPORT while printing outputs"),
        ]),
    tool!("tcprtt", Network, "Summarize TCP RTT as a histogram.",
        options: &[
            Opt::number('i', "interval", "INTERVAL", "summary interval, seconds"),
            Opt::number('d', "duration", "DURATION", "total duration of trace, seconds"),
            Opt::flag('T', "timestamp", "include timestamp on output"),
            Opt::flag('m', "milliseconds", "millisecond histogram"),
            Opt::number('p', "lport", "LPORT", "filter for local port"),
            Opt::number('P', "rport", "RPORT", "filter for remote port"),
        ],
        examples: &[
            ("", "summarize TCP RTT"),
            ("-i 1 -d 10", "print 1 second summaries, 10 times"),
            ("-m -T", "summarize in millisecond, and timestamps"),
            ("-p 80", "filter for local port 80"),
            ("-P 80", "filter for remote port 80"),
        ]),
    tool!("tcptop", Network, "Summarize TCP send/recv throughput by host.",
        options: &[
            Opt::flag('C', "noclear", "don't clear the screen"),
            Opt::flag('S', "nosummary", "skip system summary line"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::flag('4', "ipv4", "trace IPv4 family only"),
            Opt::flag('6', "ipv6", "trace IPv6 family only"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("", "trace TCP send/recv by host"),
            ("-C", "don't clear the screen"),
            ("-p 181", "only trace PID 181"),
            ("-4", "trace IPv4 family only"),
            ("-6", "trace IPv6 family only"),
            ("5 10", "5 second summaries, 10 times only"),
        ]),
    tool!("tcpsynbl", Network, "Show the TCP SYN backlog size as a histogram, by backlog limit.",
        options: &[],
        examples: &[("", "backlog size histograms by backlog limit, printed at Ctrl-C")]),
    tool!("solisten", Network, "Trace TCP listen events.",
        options: &[Opt::number('p', "pid", "PID", "trace this PID only")],
        examples: &[
            ("", "trace all TCP listen()s"),
            ("-p 181", "only trace PID 181"),
        ]),
    tool!("sslsnoop", Network, "Trace SSL/TLS handshake and read/write calls for OpenSSL.",
        options: &[],
        examples: &[("", "trace OpenSSL handshakes, reads and writes")]),
    tool!("ssllatency", Network, "Summarize SSL/TLS handshake and read/write latency as histograms.",
        options: &[],
        examples: &[("", "OpenSSL call latency histograms, printed at Ctrl-C")]),
    tool!("gethostlatency", Network, "Show latency for getaddrinfo/gethostbyname[2] calls.",
        options: &[Opt::number('p', "pid", "PID", "trace this PID only")],
        examples: &[
            ("", "time getaddrinfo/gethostbyname[2] calls"),
            ("-p 181", "only trace PID 181"),
        ]),
    tool!("klockstat", Kernel, "Trace kernel lock contention: wait times by lock.",
        options: &[
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::number('n', "locks", "LOCKS", "print given number of locks"),
            Opt::number('d', "duration", "DURATION", "total duration of trace in seconds"),
        ],
        examples: &[
            ("", "trace kernel lock contention until Ctrl-C"),
            ("-p 123", "trace locks for PID 123"),
            ("-n 3", "print the 3 locks waited for longest"),
            ("-d 10", "trace for 10 seconds only"),
        ]),
    tool!("capable", Security, "Trace security capability checks (cap_capable()).",
        options: &[
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::flag('x', "denied", "only print denied checks"),
        ],
        examples: &[
            ("", "trace capability checks"),
            ("-p 181", "only trace PID 181"),
            ("-x", "only print denied capability checks"),
        ],
        fallback: Needs::Tracepoint("capability/cap_capable")),
    tool!("setuids", Security, "Trace the setuid syscalls: privilege escalation.",
        options: &[Opt::number('p', "pid", "PID", "trace this PID only")],
        examples: &[("", "trace setuid(), setfsuid() and setresuid()"), ("-p 181", "only trace PID 181")]),
    tool!("killsnoop", Applications, "Trace signals issued by the kill() syscall.",
        options: &[
            Opt::flag('x', "failed", "only show failed kill syscalls"),
            Opt::number('p', "pid", "PID", "trace this PID only which is the sender of signal"),
            Opt::number('s', "signal", "SIGNAL", "trace this signal only"),
        ],
        examples: &[
            ("", "trace all kill() signals"),
            ("-x", "only show failed kills"),
            ("-p 181", "only trace PID 181"),
            ("-s 9", "only trace signal 9"),
        ]),
    tool!("sigsnoop", Applications, "Trace standard and real-time signals.",
        options: &[
            Opt::flag('x', "failed", "trace failed signals only"),
            Opt::number('p', "pid", "PID", "sender pid to trace"),
            Opt::number('s', "signal", "SIGNAL", "signal to trace"),
            Opt::text('n', "name", "NAME", "only print process names containing this name"),
        ],
        examples: &[
            ("", "trace signals system-wide"),
            ("-x", "trace failed signals only"),
            ("-p 1216", "only trace PID 1216"),
            ("-s 9", "only trace signal 9"),
            ("-n wl-", "only senders whose name contains \"wl-\""),
        ]),
    tool!("threadsnoop", Applications, "List new thread creation.",
        options: &[],
        examples: &[("", "list new threads as they are created")]),
    tool!("naptime", Applications, "Show voluntary sleep calls.",
        options: &[],
        examples: &[("", "trace nanosleep() calls")]),
    tool!("oomkill", Memory, "Trace OOM killer.",
        options: &[],
        examples: &[("", "trace the OOM killer's victims")]),
    tool!("drsnoop", Memory, "Trace direct reclaim and print details including issuing PID.",
        options: &[
            Opt::flag('T', "timestamp", "include timestamp on output"),
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::text('n', "name", "NAME", "only print process names containing this name"),
            Opt::number('d', "duration", "DURATION", "total duration of trace in seconds"),
        ],
        examples: &[
            ("", "trace all direct reclaim"),
            ("-T", "include timestamps"),
            ("-p 181", "only trace PID 181"),
            ("-n main", "only print process names containing \"main\""),
            ("-d 10", "trace for 10 seconds only"),
        ]),
    tool!("numamove", Memory, "Show NUMA page migration statistics.",
        options: &[],
        examples: &[("", "print NUMA migrations and their time every second")]),
    // Memory, containers, hypervisors, languages, applications (issue 12 item 3).
    tool!("bitehist", Disk, "Summarize block device I/O size as a histogram.",
        options: &[
            Opt::flag('T', "timestamp", "include timestamp on output"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("", "block I/O size histogram, in Kbytes, printed at Ctrl-C"),
            ("-T 5 2", "two 5-second histograms, each under its time"),
        ]),
    tool!("funccount", Kernel, "Count kernel and user functions.",
        options: &[
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::number('i', "interval", "INTERVAL", "summary interval, seconds"),
            Opt::number('d', "duration", "DURATION", "total duration of trace, seconds"),
            Opt::flag('T', "timestamp", "include timestamp on output"),
            Opt::pattern("search expression for events (u:LIB:FUNC, k:FUNC or FUNC)"),
        ],
        examples: &[
            ("'vfs_*'", "count kernel fns starting with \"vfs\""),
            ("'u:/usr/lib/x86_64-linux-gnu/libc.so.6:mall*'", "count libc functions starting with \"mall\""),
            ("-i 1 'u:/bin/bash:readline'", "print bash readline() counts every second"),
            ("-p 185 'u:/lib/x86_64-linux-gnu/libc.so.6:malloc'", "count malloc() calls of PID 185 only"),
        ]),
    tool!("funclatency", Kernel, "Time functions and print latency as a histogram.",
        options: &[
            Opt::number('p', "pid", "PID", "trace this PID only"),
            Opt::number('i', "interval", "INTERVAL", "summary interval, in seconds"),
            Opt::number('d', "duration", "DURATION", "total duration of trace, in seconds"),
            Opt::flag('T', "timestamp", "include timestamp on output"),
            Opt::flag('u', "microseconds", "microsecond histogram"),
            Opt::flag('m', "milliseconds", "millisecond histogram"),
            Opt::flag('F', "function", "show a separate histogram per function"),
            Opt::pattern("search expression for functions (u:LIB:FUNC, k:FUNC or FUNC)"),
        ],
        examples: &[
            ("do_sys_open", "time the do_sys_open() kernel function"),
            ("-u 'u:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc'", "time libc malloc(), in microseconds"),
            ("-m -p 181 'u:/bin/bash:readline'", "time bash readline() of PID 181, in milliseconds"),
            ("-F 'vfs_r*'", "show a separate histogram per function"),
        ]),
    tool!("kmem", Memory, "Kernel memory allocation statistics by kernel stack and process.",
        options: &[Opt::number('p', "pid", "PID", "trace this PID only")],
        examples: &[("", "kmalloc/kmem_cache_alloc bytes by stack and process, at Ctrl-C")]),
    tool!("kpages", Memory, "Kernel page allocations by kernel stack and process.",
        options: &[Opt::number('p', "pid", "PID", "trace this PID only")],
        examples: &[("", "page allocations by stack and process, at Ctrl-C")]),
    tool!("memleak", Memory, "Trace outstanding memory allocations that weren't freed.",
        options: &[
            Opt::number('p', "pid", "PID", "process ID to trace; if neither this nor -c is given, trace kernel allocations"),
            Opt::number('T', "top", "TOP", "display only this many top allocating stacks (by size)"),
            Opt::number('z', "min-size", "MIN_SIZE", "capture only allocations larger than or equal to this size"),
            Opt::number('Z', "max-size", "MAX_SIZE", "capture only allocations smaller than or equal to this size"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("-p 185", "trace PID 185's libc allocations, a summary every 5 seconds"),
            ("-p 185 -z 64 -Z 4096", "only allocations of 64 to 4096 bytes"),
            ("-c './allocs'", "run the command and trace its allocations"),
            ("", "trace kernel allocations (kmalloc, kmem_cache_alloc)"),
            ("-T 3 10 2", "top 3 stacks, 10-second summaries, twice"),
        ]),
    tool!("slabratetop", Memory, "Kernel SLAB/SLUB memory cache allocation rate top.",
        options: &[
            Opt::flag('C', "noclear", "don't clear the screen"),
            Opt::number('r', "maxrows", "MAXROWS", "maximum rows to print, default 20"),
            INTERVAL_COUNT[0], INTERVAL_COUNT[1],
        ],
        examples: &[
            ("", "kmem_cache_alloc() top, 1 second refresh"),
            ("-C", "don't clear the screen"),
            ("5", "5 second summaries"),
            ("5 10", "5 second summaries, 10 times only"),
        ]),
    tool!("workq", Kernel, "Work queue function execution times, as histograms by function.",
        options: &[],
        examples: &[("", "work queue function run times, printed at Ctrl-C")]),
    tool!("tasklets", Kernel, "Tasklet execution times, as histograms by tasklet function.",
        options: &[],
        examples: &[("", "tasklet run times, printed at Ctrl-C")]),
    tool!("mountsnoop", FileSystems, "Trace mount and umount syscalls system-wide.",
        options: &[Opt::number('p', "pid", "PID", "trace this PID only")],
        examples: &[("", "trace mount() and umount() calls"), ("-p 181", "only PID 181's")]),
    tool!("bashreadline", Languages, "Print entered bash commands from all running shells.",
        options: &[],
        examples: &[("", "print the commands typed into bash")]),
    tool!("undump", Network, "Dump UNIX domain socket packets as they are received.",
        options: &[],
        examples: &[("", "dump UNIX socket data received (needs kprobes)")]),
    tool!("pidnss", Containers, "Count PID namespace switches: CPU time shared between containers.",
        options: &[],
        examples: &[("", "count context switches between PID namespaces, at Ctrl-C")]),
    tool!("blkthrot", Containers, "Count block I/O throttled by the cgroup blk throttle controller.",
        options: &[],
        examples: &[("", "count throttled and passed block I/O by cgroup (needs kprobes)")]),
    tool!("overlayfs", Containers, "Overlay file system read and write latency, as histograms.",
        options: &[],
        examples: &[("", "overlayfs read/write latency histograms (needs kprobes)")]),
    tool!("kvmexits", Hypervisors, "KVM guest exits by reason, with the time each took until re-entry.",
        options: &[Opt::number('p', "pid", "PID", "trace this VMM process only")],
        examples: &[("", "KVM exit times and counts by reason"), ("-p 2020", "only the VM of PID 2020")]),
    tool!("cpustolen", Hypervisors, "CPU time stolen from this guest by its hypervisor, per CPU.",
        options: &[],
        examples: &[("", "stolen time per CPU, in a KVM guest (needs kprobes)")]),
];

/// A tool by name, with or without `.bt`.
pub fn find(name: &str) -> Option<&'static Tool> {
    let name = name.strip_suffix(".bt").unwrap_or(name);
    TOOLS.iter().find(|tool| tool.name == name)
}

/// The names of every tool.
pub fn names() -> impl Iterator<Item = &'static str> {
    TOOLS.iter().map(|tool| tool.name)
}

/// The tools by category, in the book's order: a heading, then one line per tool with its
/// description.
pub fn list() -> String {
    let mut out = String::new();
    for category in Category::ALL {
        let tools: Vec<&Tool> = TOOLS.iter().filter(|t| t.category == category).collect();
        if tools.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("{}:\n", category.title()));
        for tool in tools {
            out.push_str(&format!("  {:<14} {}\n", tool.name, tool.about));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_match_the_script_headers() {
        for tool in TOOLS {
            let header = format!(" * {} - {}", tool.name, tool.about);
            assert!(
                tool.script.lines().any(|line| line == header),
                "{}: the header's first line should read `{header}`",
                tool.name
            );
        }
    }

    #[test]
    fn every_option_is_read_by_the_script_and_every_getopt_is_an_option() {
        for tool in TOOLS {
            let used = getopt_names(tool.script);
            let mut declared: Vec<&str> = tool.options.iter().map(|o| o.name).collect();
            declared.sort_unstable();
            assert_eq!(used, declared, "{}: `getopt` in the script vs its options", tool.name);
            assert!(!tool.examples.is_empty(), "{}: no examples for -h", tool.name);
            // Only a probe pattern or a file system type reaches a script by position: as its
            // attach points.
            let pattern = tool
                .options
                .iter()
                .any(|o| matches!(o.kind, Kind::Pattern | Kind::Filesystem { .. }));
            assert!(pattern || !has_positional(tool.script), "{}", tool.name);
        }
    }

    #[test]
    fn a_fallback_script_is_its_tool_s_with_the_same_options_and_output() {
        let with_fallback: Vec<&Tool> = TOOLS.iter().filter(|t| t.fallback.is_some()).collect();
        assert_eq!(
            with_fallback.iter().map(|t| t.name).collect::<Vec<_>>(),
            ["runqlen", "capable"]
        );
        for tool in with_fallback {
            let (_, fallback) = tool.fallback.unwrap();
            let header = format!(" * {} - {}", tool.name, tool.about);
            assert!(fallback.lines().any(|line| line == header), "{}", tool.name);
            assert_eq!(getopt_names(fallback), getopt_names(tool.script), "{}", tool.name);
            // The same banner and the same printf formats: the same output.
            let formats = |s: &'static str| -> Vec<&'static str> {
                let printfs = s.lines().filter(|l| l.trim_start().starts_with("printf(\""));
                printfs.filter_map(|l| l.split('"').nth(1)).collect()
            };
            assert_eq!(formats(fallback), formats(tool.script), "{}", tool.name);
            assert!(!has_positional(fallback), "{}", tool.name);
            // The kernel decides: the tool's script where it has what it needs.
            assert_eq!(tool.script_for(|_| true), tool.script);
            assert_eq!(tool.script_for(|_| false), fallback);
        }
        assert_eq!(
            find("biolatency").unwrap().script_for(|_| false),
            find("biolatency").unwrap().script
        );
    }

    /// Every NAME of a `getopt("NAME"` in `script`, sorted, once each.
    fn getopt_names(script: &str) -> Vec<&str> {
        let mut found: Vec<&str> =
            script.split("getopt(\"").skip(1).filter_map(|rest| rest.split('"').next()).collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Whether the script reads `$1`..: tools take named options only.
    fn has_positional(script: &str) -> bool {
        script.split('$').skip(1).any(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    }
}
