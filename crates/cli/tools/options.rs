//! A tool's own options, declared as data ([`Opt`]) with BCC's letters, long names and help,
//! and how they reach the script: each option given becomes the named program option of its
//! long name, `--NAME=VALUE` (`--NAME` for a switch), which the script reads with
//! `getopt("NAME", default)` — the default is the script's, for when the option is not
//! given. Values are checked and typed here first (a number, an errno name or number), so a
//! bad one is a BCC-style usage error (exit code 2); the script gets them as constants, never
//! as program text. The tool stays a plain script: `bpfscope tools/biolatency.bt --
//! --milliseconds --interval=1` runs it with the same options given by hand.
//!
//! The options of every run (`-v`, `-o FILE`, `--dry-run`, ...) are `flags::RunOpts`; where a
//! tool uses one of their letters as BCC does (`-p PID`, `-f`), the tool's wins and the run
//! option keeps only a long name (`commands/run_tool.rs`).

/// One option of a tool: `-x`/`--failed`, `-n NAME`, or a positional `[interval]`.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    /// The long name (`--failed`) and the script's `getopt` name; for a positional, its
    /// placeholder (`interval`).
    pub name: &'static str,
    /// The short letter, if any (`-x`).
    pub short: Option<char>,
    /// What it takes.
    pub kind: Kind,
    /// One line for `bpfscope TOOL -h`, as BCC's help says it.
    pub help: &'static str,
}

/// What an option takes, and so what `getopt` in the script reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `-x`: `getopt("failed")` is true when given.
    Flag,
    /// `-n NAME`: the text given (`getopt("name", "")`).
    Text { value_name: &'static str },
    /// `-d SECONDS`: a whole number (`getopt("duration", 0)`).
    Number { value_name: &'static str },
    /// `-e ERRNO`: an errno name (`EPERM`) or number, given to the script as the number.
    Errno { value_name: &'static str },
    /// `[interval]` after the options: a whole number.
    Positional,
    /// BCC's `pattern` after the options (`u:LIB:FUNC`, `k:FUNC`, `FUNC`): the text as a
    /// named option, and the probes it names as the program's attach points `$1` (entry)
    /// and `$2` (return), which the parser of attach points checks; never program text.
    Pattern,
    /// `--cgroup PATH`: a cgroup v2 directory, given to the script as its cgroup ID (the
    /// directory's inode number, what `cgroup` and `kn->id` read).
    Cgroup { value_name: &'static str },
    /// `-L 80,443`: a comma-separated list of up to [`MAX_PORTS`] TCP/UDP ports (1 to
    /// 65535), given to the script as one number, the ports packed 16 bits each from the low
    /// bits up (unused slots 0), which it tests with a mask and shifts.
    Ports { value_name: &'static str },
    /// `-s SORT`: one of `choices` (argparse's `choices=`), given as the text.
    Choice { value_name: &'static str, choices: &'static [&'static str] },
    /// `-t TYPE`: a file system type of [`FILESYSTEMS`] (ext4 when not given), given as the
    /// text and as the program's attach points `$1`..`$4`: the type's read, write, open and
    /// fsync functions, which the parser of attach points checks; never program text.
    Filesystem { value_name: &'static str },
}

/// How many ports a [`Kind::Ports`] list holds: four 16-bit ports in the script's 64-bit value.
pub const MAX_PORTS: usize = 4;

/// The file system types of [`Kind::Filesystem`], each with its read, write, open and fsync
/// file operations (BCC's ext4dist, xfsdist, btrfsdist; libbpf-tools' fsdist).
pub const FILESYSTEMS: &[(&str, [&str; 4])] = &[
    ("ext4", ["ext4_file_read_iter", "ext4_file_write_iter", "ext4_file_open", "ext4_sync_file"]),
    ("xfs", ["xfs_file_read_iter", "xfs_file_write_iter", "xfs_file_open", "xfs_file_fsync"]),
    (
        "btrfs",
        ["btrfs_file_read_iter", "btrfs_file_write_iter", "btrfs_file_open", "btrfs_sync_file"],
    ),
];

impl Opt {
    /// A switch, `-SHORT` or `--NAME`.
    pub const fn flag(short: char, name: &'static str, help: &'static str) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Flag, help }
    }

    /// `-SHORT VALUE` or `--NAME VALUE`: text.
    pub const fn text(
        short: char,
        name: &'static str,
        value_name: &'static str,
        help: &'static str,
    ) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Text { value_name }, help }
    }

    /// `-SHORT N` or `--NAME N`: a whole number.
    pub const fn number(
        short: char,
        name: &'static str,
        value_name: &'static str,
        help: &'static str,
    ) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Number { value_name }, help }
    }

    /// `-SHORT ERRNO` or `--NAME ERRNO`: an errno name or number.
    pub const fn errno(
        short: char,
        name: &'static str,
        value_name: &'static str,
        help: &'static str,
    ) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Errno { value_name }, help }
    }

    /// A whole number after the options (BCC's `[interval] [count]`).
    pub const fn positional(name: &'static str, help: &'static str) -> Opt {
        Opt { name, short: None, kind: Kind::Positional, help }
    }

    /// BCC's required `pattern` of probes (funccount, funclatency).
    pub const fn pattern(help: &'static str) -> Opt {
        Opt { name: "pattern", short: None, kind: Kind::Pattern, help }
    }

    /// `--NAME PATH`: a cgroup v2 directory, typed as its cgroup ID.
    pub const fn cgroup(name: &'static str, help: &'static str) -> Opt {
        Opt { name, short: None, kind: Kind::Cgroup { value_name: "PATH" }, help }
    }

    /// `-SHORT PORTS` or `--NAME PORTS`: a comma-separated list of ports.
    pub const fn ports(
        short: char,
        name: &'static str,
        value_name: &'static str,
        help: &'static str,
    ) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Ports { value_name }, help }
    }

    /// `-SHORT VALUE` or `--NAME VALUE`: one of `choices`.
    pub const fn choice(
        short: char,
        name: &'static str,
        value_name: &'static str,
        choices: &'static [&'static str],
        help: &'static str,
    ) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Choice { value_name, choices }, help }
    }

    /// `-SHORT TYPE` or `--NAME TYPE`: a file system type of [`FILESYSTEMS`].
    pub const fn filesystem(short: char, name: &'static str, help: &'static str) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Filesystem { value_name: "TYPE" }, help }
    }

    /// The attach points `$1`..`$4` of a [`Kind::Filesystem`] option given `value` (ext4
    /// when not given): the type's read, write, open and fsync functions.
    pub fn filesystem_functions(value: Option<&str>) -> Option<[&'static str; 4]> {
        let fs = value.unwrap_or("ext4");
        FILESYSTEMS.iter().find(|(name, _)| *name == fs).map(|(_, functions)| *functions)
    }

    /// Whether it comes after the options, by position.
    pub fn is_positional(&self) -> bool {
        matches!(self.kind, Kind::Positional | Kind::Pattern)
    }

    /// The same option without its short letter (`--NAME` only).
    pub const fn long_only(self) -> Opt {
        Opt { short: None, ..self }
    }

    /// The value's placeholder (`PID`), for options that take one.
    pub fn value_name(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Text { value_name }
            | Kind::Number { value_name }
            | Kind::Errno { value_name }
            | Kind::Cgroup { value_name }
            | Kind::Choice { value_name, .. }
            | Kind::Ports { value_name }
            | Kind::Filesystem { value_name } => Some(value_name),
            Kind::Flag | Kind::Positional | Kind::Pattern => None,
        }
    }

    /// How argparse names it in errors: `-p/--pid`, `--name`, `interval`.
    pub fn display(&self) -> String {
        match (self.kind, self.short) {
            (Kind::Positional | Kind::Pattern, _) => self.name.to_string(),
            (_, Some(short)) => format!("-{short}/--{}", self.name),
            (_, None) => format!("--{}", self.name),
        }
    }

    /// The named program option for `value`, the text given on the command line (`None` for
    /// a switch), or the usage error argparse would print for it.
    pub fn program_option(&self, value: Option<&str>) -> Result<String, String> {
        let value = match (self.kind, value) {
            (Kind::Flag, _) | (_, None) => return Ok(format!("--{}", self.name)),
            (Kind::Text { .. }, Some(text)) => text.to_string(),
            (Kind::Pattern, Some(text)) => {
                attach_points(text).map_err(|e| format!("argument {}: {e}", self.display()))?;
                text.to_string()
            }
            (Kind::Cgroup { .. }, Some(path)) => {
                use std::os::unix::fs::MetadataExt;
                match std::fs::metadata(path) {
                    Ok(meta) if meta.is_dir() => meta.ino().to_string(),
                    Ok(_) => {
                        return Err(format!(
                            "argument {}: {path} is not a cgroup directory",
                            self.display()
                        ))
                    }
                    Err(e) => return Err(format!("argument {}: {path}: {e}", self.display())),
                }
            }
            (Kind::Ports { .. }, Some(text)) => {
                let mut packed = 0u64;
                let ports: Vec<&str> = text.split(',').collect();
                if ports.len() > MAX_PORTS {
                    return Err(format!(
                        "argument {}: at most {MAX_PORTS} ports, not {}: '{text}'",
                        self.display(),
                        ports.len()
                    ));
                }
                for (i, port) in ports.iter().enumerate() {
                    match port.trim().parse::<u16>() {
                        Ok(n) if n > 0 => packed |= u64::from(n) << (16 * i),
                        _ => {
                            return Err(format!(
                                "argument {}: invalid port: '{port}' (a comma-separated list of ports from 1 to 65535)",
                                self.display()
                            ))
                        }
                    }
                }
                packed.to_string()
            }
            (Kind::Choice { choices, .. }, Some(text)) => {
                if !choices.contains(&text) {
                    return Err(invalid_choice(self, text, choices.iter().copied()));
                }
                text.to_string()
            }
            (Kind::Filesystem { .. }, Some(text)) => {
                if Opt::filesystem_functions(Some(text)).is_none() {
                    let names = FILESYSTEMS.iter().map(|(name, _)| *name);
                    return Err(invalid_choice(self, text, names));
                }
                text.to_string()
            }
            (Kind::Number { .. } | Kind::Positional, Some(text)) => match text.parse::<u64>() {
                Ok(n) => n.to_string(),
                Err(_) => {
                    return Err(format!("argument {}: invalid int value: '{text}'", self.display()))
                }
            },
            (Kind::Errno { .. }, Some(text)) => {
                let number = text.parse::<i32>().ok().filter(|n| *n > 0);
                match number.or_else(|| bpfscope_runtime::errno_number(text)) {
                    Some(n) => n.to_string(),
                    None => {
                        return Err(format!(
                            "argument {}: {text} is not a valid errno (a name such as EPERM, or a positive number)",
                            self.display()
                        ))
                    }
                }
            }
        };
        Ok(format!("--{}={value}", self.name))
    }
}

/// argparse's error for a value not among `choices`.
fn invalid_choice<'a>(opt: &Opt, text: &str, choices: impl Iterator<Item = &'a str>) -> String {
    let choices: Vec<String> = choices.map(|c| format!("'{c}'")).collect();
    format!(
        "argument {}: invalid choice: '{text}' (choose from {})",
        opt.display(),
        choices.join(", ")
    )
}

/// The entry and return attach points of BCC's probe `pattern`: `u:LIB:FUNC` (uprobes),
/// `k:FUNC`, `p::FUNC`, `p:FUNC` or a bare `FUNC` (kernel functions, by kprobes), with
/// wildcards. Only the characters of library paths and function globs are taken: the
/// pattern becomes an attach point and nothing else.
pub fn attach_points(pattern: &str) -> Result<(String, String), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_-./*?:+@[]".contains(c);
    if pattern.is_empty() || !pattern.chars().all(allowed) {
        return Err(format!("'{pattern}' is not a probe pattern (u:LIB:FUNC, k:FUNC or FUNC)"));
    }
    let kernel = |func: &str| (format!("kprobe:{func}"), format!("kretprobe:{func}"));
    match pattern.split_once(':') {
        None => Ok(kernel(pattern)),
        Some(("u", rest)) => match rest.split_once(':') {
            Some((lib, func)) if !lib.is_empty() && !func.is_empty() && !func.contains(':') => {
                Ok((format!("uprobe:{lib}:{func}"), format!("uretprobe:{lib}:{func}")))
            }
            _ => Err(format!("'{pattern}': a user pattern is u:LIBRARY:FUNCTION")),
        },
        Some(("k" | "p", rest)) => {
            let func = rest.strip_prefix(':').unwrap_or(rest);
            if func.is_empty() || func.contains(':') {
                return Err(format!("'{pattern}': a kernel pattern is k:FUNCTION"));
            }
            Ok(kernel(func))
        }
        Some(("t", _)) => Err(format!(
            "'{pattern}': tracepoint patterns are not supported yet (count them with `bpfscope -e 'tracepoint:CATEGORY:EVENT {{ @[probe] = count(); }}'`)"
        )),
        Some((kind, _)) => {
            Err(format!("'{pattern}': unknown probe type '{kind}:' (u:LIB:FUNC, k:FUNC or FUNC)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_typed_and_become_named_options() {
        let pid = Opt::number('p', "pid", "PID", "trace this PID only");
        assert_eq!(pid.program_option(Some("42")).unwrap(), "--pid=42");
        assert_eq!(
            pid.program_option(Some("abc")).unwrap_err(),
            "argument -p/--pid: invalid int value: 'abc'"
        );
        assert!(pid.program_option(Some("-1")).is_err());
        let errno = Opt::errno('e', "errno", "ERRNO", "trace only syscalls that fail with ERRNO");
        assert_eq!(errno.program_option(Some("ENOENT")).unwrap(), "--errno=2");
        assert_eq!(errno.program_option(Some("13")).unwrap(), "--errno=13");
        assert!(errno.program_option(Some("ENOPE")).unwrap_err().contains("not a valid errno"));
        let flag = Opt::flag('x', "failed", "only show failed opens");
        assert_eq!(flag.program_option(None).unwrap(), "--failed");
        let name = Opt::text('n', "name", "NAME", "only print process names containing NAME");
        assert_eq!(name.program_option(Some("a=b c")).unwrap(), "--name=a=b c");
        let interval = Opt::positional("interval", "output interval, in seconds");
        assert_eq!(interval.display(), "interval");
        assert!(interval
            .program_option(Some("one"))
            .unwrap_err()
            .starts_with("argument interval:"));
        let pattern = Opt::pattern("the functions");
        assert_eq!(
            pattern.program_option(Some("u:/lib/c.so:mal*")).unwrap(),
            "--pattern=u:/lib/c.so:mal*"
        );
        assert!(pattern.program_option(Some("u:x:y; }")).is_err());
        assert_eq!(
            attach_points("u:/lib/c.so:malloc").unwrap(),
            ("uprobe:/lib/c.so:malloc".to_string(), "uretprobe:/lib/c.so:malloc".to_string())
        );
        assert_eq!(attach_points("vfs_*").unwrap().0, "kprobe:vfs_*");
        assert_eq!(attach_points("p::vfs_read").unwrap().1, "kretprobe:vfs_read");
        assert!(attach_points("t:sched:sched_switch").unwrap_err().contains("not supported yet"));
        let cgroup = Opt::cgroup("cgroup", "trace this cgroup only");
        assert!(cgroup.program_option(Some("/nonexistent/cg")).is_err());
        assert!(cgroup.program_option(Some("/")).unwrap().starts_with("--cgroup="));
        let ports = Opt::ports('L', "localport", "LPORT", "comma-separated list of local ports");
        assert_eq!(ports.program_option(Some("80")).unwrap(), "--localport=80");
        let packed: u64 = 80 | 443 << 16 | 22 << 32 | 65535 << 48;
        assert_eq!(
            ports.program_option(Some("80,443,22,65535")).unwrap(),
            format!("--localport={packed}")
        );
        assert_eq!(
            ports.program_option(Some("80,x")).unwrap_err(),
            "argument -L/--localport: invalid port: 'x' (a comma-separated list of ports from 1 to 65535)"
        );
        assert!(ports.program_option(Some("0")).unwrap_err().contains("invalid port: '0'"));
        assert!(ports.program_option(Some("65536")).is_err());
        assert!(ports
            .program_option(Some("1,2,3,4,5"))
            .unwrap_err()
            .contains("at most 4 ports, not 5"));
        let sort = Opt::choice('s', "sort", "SORT", &["all", "reads"], "sort column");
        assert_eq!(sort.program_option(Some("reads")).unwrap(), "--sort=reads");
        assert_eq!(
            sort.program_option(Some("x")).unwrap_err(),
            "argument -s/--sort: invalid choice: 'x' (choose from 'all', 'reads')"
        );
        let fs = Opt::filesystem('t', "type", "which file system");
        assert_eq!(fs.program_option(Some("xfs")).unwrap(), "--type=xfs");
        assert_eq!(
            fs.program_option(Some("zfs")).unwrap_err(),
            "argument -t/--type: invalid choice: 'zfs' (choose from 'ext4', 'xfs', 'btrfs')"
        );
        assert_eq!(Opt::filesystem_functions(None).unwrap()[3], "ext4_sync_file");
        assert_eq!(Opt::filesystem_functions(Some("btrfs")).unwrap()[0], "btrfs_file_read_iter");
    }
}
