//! printf format strings (`printf`, `errorf`, `strftime`-free): parsed into pieces or
//! refused with a message; then as a script's printf with arguments of both kinds.

use crate::Target;

fn run(bytes: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(bytes);
    let sig = match bpfscope_syntax::format::parse_format(&text) {
        Ok(pieces) => pieces.len() as u64,
        Err(message) if message.is_empty() => return Err("refused without a message".into()),
        Err(message) => crate::signature(&message),
    };
    // One in four goes through the checker too (arguments counted against the pieces).
    if crate::hash(bytes).is_multiple_of(4) {
        let escaped: String = text
            .chars()
            .flat_map(|c| match c {
                '"' => vec!['\\', '"'],
                '\\' => vec!['\\', '\\'],
                '\n' => vec!['\\', 'n'],
                c => vec![c],
            })
            .collect();
        let script = format!("BEGIN {{ printf(\"{escaped}\", 1, \"s\", comm, 2); }}");
        super::compile_script(script.as_bytes())?;
    }
    Ok(sig)
}

pub const TARGET: Target = Target {
    name: "printf",
    seeds: || Vec::new(),
    dict: &[
        "%d", "%s", "%x", "%lu", "%llx", "%-10s", "%5d", "%*d", "%.3s", "%p", "%c", "%%", "%r",
        "%rx", "%rh", "%u", "%ld", "%hhd", "%zd", "%08x", "%-", "%", "%l", "%ll", "%q", "\\n",
        "\\t", "\\x41", "\\0", "%#x", "%+d", "% d", "%.", "%99999999999d",
    ],
    binary: false,
    run,
    deadline_ms: 200,
};
