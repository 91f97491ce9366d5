//! Program generators shared by the compiler's property test and the kernel tests'
//! verifier sweep (`tests/kernel/tests/verifier.rs` includes this file by path).

/// xorshift64*: small, seeded, good enough to pick fragments.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const PROBES: &[&str] = &[
    "BEGIN",
    "END",
    "begin",
    "tracepoint:syscalls:sys_enter_read",
    "t:syscalls:sys_exit_read",
    "t:syscalls:sys_enter_*",
    "interval:s:1",
    "i:ms:10",
    "profile:hz:99",
    "t:sched:sched_switch",
    "kprobe:vfs_read",
    "uprobe:/bin/sh:main",
    "t:block:block_rq_issue",
    "t:nope:nope",
    "software:faults:1",
    "t:syscalls:sys_enter_openat",
];

const EXPRS: &[&str] = &[
    "1",
    "-1",
    "0x10",
    "1_000",
    "5s",
    "pid",
    "tid",
    "comm",
    "nsecs",
    "elapsed",
    "cpu",
    "args.ret",
    "args->fd",
    "args.comm",
    "args.filename",
    "str(args.filename)",
    "\"abc\"",
    "$x",
    "$y",
    "@m",
    "@m[1]",
    "@k[comm, pid]",
    "(1, \"a\")",
    "$t.0",
    "$1",
    "$#",
    "probe",
    "rand",
    "cgroup",
    "curtask",
    "uid",
    "gid",
    "true",
    "arg0",
    "retval",
    "has_key(@m, 1)",
    "(uint8)pid",
    "len(@m)",
    "len(@p)",
    "kstack",
    "kstack(3)",
    "kstack(perf, 2)",
    "(int32)-5",
    "len(@m)",
    "len(@k)",
    "!pid",
    "~pid",
    "comm == \"x\"",
    "pid > 3 ? 1 : 2",
    "str(0, 8)",
    "nosuch",
    "args",
];

const OPS: &[&str] = &[
    "+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "==", "!=", "<", "<=", ">", ">=", "&&",
    "||",
];

fn expr(rng: &mut Rng, depth: u32) -> String {
    if depth == 0 || rng.below(3) == 0 {
        return rng.pick(EXPRS).to_string();
    }
    match rng.below(4) {
        0 => format!("({} {} {})", expr(rng, depth - 1), rng.pick(OPS), expr(rng, depth - 1)),
        1 => format!(
            "{} ? {} : {}",
            expr(rng, depth - 1),
            expr(rng, depth - 1),
            expr(rng, depth - 1)
        ),
        2 => format!("-{}", expr(rng, depth - 1)),
        _ => format!("({}, {})", expr(rng, depth - 1), expr(rng, depth - 1)),
    }
}

fn stmt(rng: &mut Rng, depth: u32) -> String {
    let e = expr(rng, 2);
    match rng.below(18) {
        0 => format!("@m = {e}"),
        1 => format!("@k[{e}] = count()"),
        2 => format!("@h = hist({e})"),
        3 => format!("@l[{e}] = lhist({e}, 0, 100, 10)"),
        4 => format!("$x = {e}"),
        5 => format!("printf(\"%d %s\\n\", {e}, comm)"),
        6 => format!(
            "if ({e}) {{ {} }} else {{ {} }}",
            stmt(rng, depth.saturating_sub(1)),
            stmt(rng, depth.saturating_sub(1))
        ),
        7 => format!("for ($i : 0..{}) {{ {} }}", rng.below(5), stmt(rng, depth.saturating_sub(1))),
        8 => format!("unroll({}) {{ {} }}", rng.below(4), stmt(rng, depth.saturating_sub(1))),
        9 => format!(
            "@s = {}({e})",
            rng.pick(&["sum", "min", "max", "avg", "stats", "count", "cout"])
        ),
        10 => "exit()".into(),
        11 => format!("print({e})"),
        12 => "clear(@m); zero(@k); delete(@k, (\"a\", 1))".into(),
        13 => format!("$x += {e}; $x++"),
        14 => format!("let $y: uint32 = {e}"),
        15 => "@p[tid] = cpu".into(),
        16 => format!(
            "@p[pid] = 1; for ($kv : @p) {{ {}; @q[$kv.0] = $kv.1 + 1; }}",
            stmt(rng, depth.saturating_sub(1))
        ),
        _ => format!("time(\"%H\"); print(@m, {}, {})", rng.below(3), rng.below(3)),
    }
}

pub fn program(rng: &mut Rng) -> String {
    let mut text = String::new();
    if rng.below(5) == 0 {
        text.push_str("config = { max_map_keys = 16; max_strlen = 32 }\n");
    }
    for _ in 0..=rng.below(3) {
        text.push_str(rng.pick(PROBES));
        if rng.below(2) == 0 {
            text.push_str(&format!(" /{}/", expr(rng, 1)));
        }
        text.push_str(" { ");
        for _ in 0..rng.below(5) {
            text.push_str(&stmt(rng, 2));
            text.push_str("; ");
        }
        text.push_str("}\n");
    }
    text
}

/// Byte-level mutations: delete, duplicate or replace a span, insert punctuation.
pub fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        let len = 1 + rng.below(8).min(bytes.len() - at);
        match rng.below(4) {
            0 => {
                bytes.drain(at..(at + len).min(bytes.len()));
            }
            1 => {
                let piece: Vec<u8> = bytes[at..(at + len).min(bytes.len())].to_vec();
                bytes.splice(at..at, piece);
            }
            2 => {
                let p = rng.pick(&[
                    "{", "}", "(", ")", "/", "\"", "@", "$", ";", ",", "[", "]", ":", "\\", "*",
                    "é", "\0",
                ]);
                bytes.splice(at..at, p.bytes());
            }
            _ => bytes[at] = (rng.next() & 0x7f) as u8,
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Probes that exist both in the fixture target and on a live kernel, with an integer
/// expression valid in each.
const VALID_PROBES: &[(&str, &str)] = &[
    ("BEGIN", "pid"),
    ("END", "cpu"),
    ("interval:ms:100", "nsecs"),
    ("profile:hz:99", "tid"),
    ("tracepoint:syscalls:sys_exit_read", "args.ret"),
    ("tracepoint:syscalls:sys_enter_read", "args.count"),
    ("tracepoint:sched:sched_switch", "args.prev_pid"),
    ("rawtracepoint:sys_enter", "arg1"),
];

/// A well-typed program: every statement is valid, so the compiler must accept it and the
/// kernel verifier must load it. Map types are fixed: `@p` int → int, `@c` string → count,
/// `@t` (int, string) → (int, string), `@h`, `@l`, `@st` scalar aggregations.
pub fn valid_program(rng: &mut Rng) -> String {
    // Every map the statements use, with its type, first.
    let mut text = String::from(
        "BEGIN { @p[0] = 0; @q[0] = 0; @c[\"x\"] = count(); @t[0, \"x\"] = (0, \"x\"); @h = hist(0); \
         @l = lhist(0, 0, 100, 10); @st = stats(0); @k[kstack(3)] = count(); @m = max(0); @n = min(0); \
         @a = avg(0); @u = sum(0); }\n",
    );
    for _ in 0..=rng.below(3) {
        let (probe, probe_int) = VALID_PROBES[rng.below(VALID_PROBES.len())];
        text.push_str(probe);
        if rng.below(3) == 0 {
            // Predicates run before any variable exists.
            let other = rng.pick(&["pid", "cpu", "tid", "comm == \"x\"", "has_key(@p, 1)"]);
            text.push_str(&format!(" /{probe_int} > 1 || {other}/"));
        }
        text.push_str(" { $i = 0; $s = \"s\"; ");
        for _ in 0..=rng.below(5) {
            text.push_str(&valid_stmt(rng, 2, probe_int));
            text.push_str("; ");
        }
        text.push_str("}\n");
    }
    text
}

fn int_expr(rng: &mut Rng, depth: u32, probe_int: &str) -> String {
    const LEAVES: &[&str] = &[
        "1",
        "-7",
        "0x10",
        "pid",
        "tid",
        "cpu",
        "nsecs",
        "uid",
        "rand",
        "$i",
        "@p[1]",
        "len(@p)",
        "(uint8)pid",
    ];
    if depth == 0 || rng.below(3) == 0 {
        return if rng.below(4) == 0 {
            probe_int.to_string()
        } else {
            rng.pick(LEAVES).to_string()
        };
    }
    const OPS: &[&str] =
        &["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "==", "<", ">=", "&&", "||"];
    match rng.below(5) {
        0 => format!(
            "({} ? {} : {})",
            int_expr(rng, depth - 1, probe_int),
            int_expr(rng, depth - 1, probe_int),
            int_expr(rng, depth - 1, probe_int)
        ),
        1 => format!("has_key(@p, {})", int_expr(rng, depth - 1, probe_int)),
        2 => format!("({} == {})", str_expr(rng), str_expr(rng)),
        _ => format!(
            "({} {} {})",
            int_expr(rng, depth - 1, probe_int),
            rng.pick(OPS),
            int_expr(rng, depth - 1, probe_int)
        ),
    }
}

fn str_expr(rng: &mut Rng) -> String {
    // `str(0, 100)` keeps long (branch-free, 9 instructions a byte) comparisons affordable.
    rng.pick(&["comm", "\"lit\"", "$s", "str(0, 100)", "str(0, 8)", "(pid > 1 ? comm : \"x\")"])
        .to_string()
}

fn valid_stmt(rng: &mut Rng, depth: u32, probe_int: &str) -> String {
    let i = int_expr(rng, 2, probe_int);
    let s = str_expr(rng);
    let inner = |rng: &mut Rng| {
        if depth == 0 {
            "$i++".to_string()
        } else {
            valid_stmt(rng, depth - 1, probe_int)
        }
    };
    match rng.below(18) {
        0 => format!("$i = {i}"),
        1 => format!("$s = {s}"),
        2 => format!("@p[{i}] = {}", int_expr(rng, 1, probe_int)),
        3 => format!("@c[{s}] = count()"),
        4 => format!("@h = hist({i})"),
        5 => format!("@l = lhist({i}, 0, 100, 10)"),
        6 => format!("@st = stats({i})"),
        7 => format!("printf(\"%d %s %x\\n\", {i}, {s}, {})", int_expr(rng, 1, probe_int)),
        8 => format!("if ({i}) {{ {} }} else {{ {} }}", inner(rng), inner(rng)),
        9 => format!("for ($j : 0..3) {{ {} }}", inner(rng)),
        10 => format!("unroll(2) {{ {} }}", inner(rng)),
        11 => "for ($kv : @p) { @q[$kv.0] = $kv.1 + 1; }".into(),
        12 => format!("delete(@p, {i})"),
        13 => "print(@p); print(@c, 3); clear(@h)".into(),
        14 => format!("@t[{i}, {s}] = ({}, {s})", int_expr(rng, 1, probe_int)),
        15 => format!("@k[kstack(3)] = count(); $i += {i}"),
        16 => format!("@m = max({i}); @n = min({i}); @a = avg({i}); @u = sum({i})"),
        _ => format!("$i = {i}; $i *= 2; $s = {s}"),
    }
}

/// Probes of [`valid_program_ext`], with an integer expression and statements valid in each;
/// `PROG` is a binary built from the C below (`/fixture/prog` in the fixture target), whose
/// `dw_target(int i, long l, char *s, struct pt { int x; int y; } *p, unsigned char c)` has
/// DWARF arguments.
const EXT_PROBES: &[(&str, &str, &[&str])] = &[
    ("BEGIN", "pid", &[]),
    (
        "tracepoint:syscalls:sys_enter_openat",
        "args.dfd",
        &["@fn[str(args.filename)] = count()", "$i = args.flags & 0xff", "$s = str(args.filename)"],
    ),
    (
        "tracepoint:sched:sched_switch",
        "args.next_pid",
        &[
            "printf(\"%s %d\\n\", args.prev_comm, args.prev_pid)",
            "$i = args.prev_pid - args.next_pid",
        ],
    ),
    (
        "uprobe:PROG:dw_target",
        "args.i",
        &[
            "$i = args.l + args.c + args.p->y",
            "$s = str(args.s)",
            "@us[ustack(4)] = count()",
            "printf(\"%d %ld %s\\n\", args.i, args.l, str(args.s))",
            "$i = (int8)args.c + (uint16)args.p->x",
        ],
    ),
    ("uretprobe:PROG:dw_target", "retval", &["@us[ustack(4)] = count()", "$i = (int32)retval"]),
    ("rawtracepoint:sys_enter", "arg1", &["$i = (uint32)arg1"]),
    ("profile:hz:99", "tid", &["@ks[kstack] = count()", "@kus[kstack(3), ustack(3)] = count()"]),
];

/// The C program [`valid_program_ext`]'s uprobes trace (build it with `cc -g -O0`).
#[allow(dead_code, reason = "the kernel tests build it; the compiler tests use the fixture")]
pub const EXT_PROG_SOURCE: &str = "struct pt { int x; int y; };\n\
__attribute__((noinline)) int dw_target(int i, long l, char *s, struct pt *p, unsigned char c)\n\
{ return i + p->x + c; }\n\
int main(void) { struct pt p = { 1, 2 }; return dw_target(1, 2, \"s\", &p, 3) > 100; }\n";

/// [`valid_program`] with the newer language surface, as a new function so that the first
/// one's programs (and the seeds of its users) stay what they were: struct access through
/// BTF (`curtask->...`), tracepoint `args`, casts, C declarations in the script, uprobe
/// arguments typed by DWARF (of `prog`, see [`EXT_PROG_SOURCE`]) and stacks as map keys.
pub fn valid_program_ext(rng: &mut Rng, prog: &str) -> String {
    let mut text = String::from(
        "struct Fz { int a; long b; char c[8]; unsigned short d; struct Fz *next; };\n\
         BEGIN { @p[0] = 0; @q[0] = 0; @c[\"x\"] = count(); @t[0, \"x\"] = (0, \"x\"); @h = hist(0); \
         @l = lhist(0, 0, 100, 10); @st = stats(0); @k[kstack(3)] = count(); @m = max(0); @n = min(0); \
         @a = avg(0); @u = sum(0); @fn[\"x\"] = count(); }\n",
    );
    for _ in 0..=rng.below(3) {
        let (probe, probe_int, extra) = EXT_PROBES[rng.below(EXT_PROBES.len())];
        text.push_str(&probe.replace("PROG", prog));
        if rng.below(3) == 0 {
            text.push_str(&format!(" /{probe_int} > 1 || curtask->pid == 1/"));
        }
        text.push_str(" { $i = 0; $s = \"s\"; ");
        for _ in 0..=rng.below(5) {
            let stmt = match rng.below(4) {
                0 if !extra.is_empty() => extra[rng.below(extra.len())].to_string(),
                1 => ext_stmt(rng, probe_int),
                _ => valid_stmt(rng, 2, probe_int),
            };
            text.push_str(&stmt);
            text.push_str("; ");
        }
        text.push_str("}\n");
    }
    text
}

fn ext_stmt(rng: &mut Rng, probe_int: &str) -> String {
    let i = int_expr(rng, 1, probe_int);
    match rng.below(9) {
        0 => "$i = curtask->pid + curtask->real_parent->tgid".into(),
        1 => "printf(\"%s %d\\n\", curtask->comm, curtask->prio)".into(),
        2 => format!("$i = (int8){i} + (uint16){i} + (int64)(uint32)-1"),
        3 => format!("$i = (uint8)({i}) * (int16)curtask->tgid"),
        4 => "$i = ((struct Fz *)curtask)->b + ((struct Fz *)curtask)->next->a".into(),
        5 => "$i = sizeof(struct Fz) + offsetof(struct Fz, c) + sizeof(curtask->comm)".into(),
        6 => "@ks[kstack] = count()".into(),
        7 => "$t = (struct task_struct *)curtask; $i = $t->parent->pid + $t->flags".into(),
        _ => format!("@p[(uint32)({i})] = (int64)curtask->tgid"),
    }
}
