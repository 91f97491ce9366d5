//! Spells BTF types as C, for listings: a declaration (`struct task_struct *parent`,
//! `char comm[16]`, `void (*func)(struct callback_head *)`) and a struct or union definition
//! laid out as libbpf's `btf_dump` writes it (what `bpftool btf dump ... format c` and
//! `bpftrace -lv 'struct task_struct'` print): anonymous members inline, bitfields, and
//! explicit padding (`long: 64;`) where the natural alignment would not reproduce the
//! kernel's offsets. Nothing here feeds code generation; the language's types are
//! [`Reader::resolve`]'s.
//!
//! The padding and packing rules follow libbpf 1.1's `btf_dump.c`
//! (`btf_dump_emit_bit_padding`, `btf_is_struct_packed`, `btf__align_of`).

use super::{word, BtfError, Kind, Raw, Reader, MAX_DEPTH};

/// Pointer size on the machines we run on, in bytes.
const PTR_SIZE: u32 = 8;

/// Most anonymous records one listing inlines: malformed BTF can nest them without end or
/// share them so that the text would grow exponentially (task_struct inlines a few dozen).
const MAX_INLINED: u32 = 256;

/// Most padding one gap gets as `long: 64;` lines (a real struct's gaps are a few bytes).
const MAX_PADDING_BITS: u32 = 1 << 16;

/// Most declarators one listing spells (task_struct's: a few hundred).
const MAX_DECLS: u32 = 100_000;

/// Most members one alignment walks (records nested by value; task_struct's: a few thousand).
const MAX_ALIGN_STEPS: u32 = 20_000;

thread_local! {
    /// Anonymous records inlined by the listing being written.
    static INLINED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Declarators the listing being written has spelled.
    static DECLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Members the alignment being computed has walked.
    static ALIGN_STEPS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// The records being walked (inlined or aligned), outermost first: malformed BTF can
    /// make a record contain itself.
    static PATH: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with record `id` on the path, or gives `None` when it is already on it.
fn within<T>(id: u32, f: impl FnOnce() -> T) -> Option<T> {
    if PATH.with_borrow(|path| path.contains(&id)) {
        return None;
    }
    PATH.with_borrow_mut(|path| path.push(id));
    let out = f();
    PATH.with_borrow_mut(|path| path.pop());
    Some(out)
}

impl Reader {
    /// Type `id` declaring `name` in C (`char comm[16]`); the bare type when `name` is empty
    /// (`struct file *`).
    pub fn c_decl(&self, id: u32, name: &str) -> String {
        INLINED.set(0);
        DECLS.set(0);
        PATH.with_borrow_mut(Vec::clear);
        self.decl(id, name.to_string(), 0, 0)
    }

    /// The definition of the struct, union or enum called `c_name` (`struct task_struct`),
    /// ending in `;`, as `btf_dump` writes it.
    pub fn c_definition(&self, c_name: &str) -> Result<String, BtfError> {
        let (kinds, tag): (&[Kind], &str) = match c_name.split_once(' ') {
            Some(("struct", tag)) => (&[Kind::Struct], tag),
            Some(("union", tag)) => (&[Kind::Union], tag),
            Some(("enum", tag)) => (&[Kind::Enum, Kind::Enum64], tag),
            _ => return Err(BtfError::NotFound(c_name.to_string())),
        };
        let id = kinds.iter().find_map(|kind| self.find(tag.trim(), *kind));
        let id = id.ok_or_else(|| BtfError::NotFound(c_name.to_string()))?;
        INLINED.set(0);
        DECLS.set(0);
        PATH.with_borrow_mut(Vec::clear);
        Ok(format!("{};", self.body(id, &self.raw(id)?, 0)))
    }

    /// The declarator `inner` (a name, `*name`, `name[4]`) wrapped in type `id`.
    fn decl(&self, id: u32, inner: String, lvl: usize, depth: u32) -> String {
        // Malformed BTF can make a prototype's parameters point back at it: a budget on the
        // whole listing keeps the fan-out from growing exponentially.
        DECLS.set(DECLS.get() + 1);
        let raw = match self.raw(id) {
            Ok(raw) if id != 0 && depth < MAX_DEPTH && DECLS.get() < MAX_DECLS => raw,
            _ => return join("void", &inner),
        };
        let next = depth + 1;
        match raw.kind {
            Some(Kind::Ptr) => {
                let to = raw.size_or_type;
                // `btf_dump` spaces a pointer from a parenthesized declarator or a
                // qualifier: `struct dentry * (*mount)(...)`, `char * const name`.
                let inner = match self.kind(to) {
                    Some(Kind::Array | Kind::FuncProto) => format!("(*{inner})"),
                    _ if inner.starts_with('(') || starts_with_qualifier(&inner) => {
                        format!("* {inner}")
                    }
                    _ => format!("*{inner}"),
                };
                self.decl(to, inner, lvl, next)
            }
            Some(kind @ (Kind::Const | Kind::Volatile | Kind::Restrict)) => {
                let qualifier = match kind {
                    Kind::Const => "const",
                    Kind::Volatile => "volatile",
                    _ => "restrict",
                };
                let to = raw.size_or_type;
                if self.kind(to) == Some(Kind::Ptr) {
                    return self.decl(to, join(qualifier, &inner), lvl, next);
                }
                format!("{qualifier} {}", self.decl(to, inner, lvl, next))
            }
            Some(Kind::TypeTag) => self.decl(raw.size_or_type, inner, lvl, next),
            Some(Kind::Array) => {
                let (of, len) = (word(raw.extra, 0).unwrap_or(0), word(raw.extra, 8).unwrap_or(0));
                self.decl(of, format!("{inner}[{len}]"), lvl, next)
            }
            Some(Kind::FuncProto) => {
                let params = self.proto_params(&raw, lvl, next);
                self.decl(raw.size_or_type, format!("{inner}({params})"), lvl, next)
            }
            _ => join(&self.base(id, &raw, lvl), &inner),
        }
    }

    /// A prototype's parameter list: `struct sock *, int`, `void`, or ending in `...`.
    fn proto_params(&self, raw: &Raw<'_>, lvl: usize, depth: u32) -> String {
        let mut params = Vec::new();
        for i in 0..raw.vlen {
            let (name_off, ty) =
                (word(raw.extra, i * 8).unwrap_or(0), word(raw.extra, i * 8 + 4).unwrap_or(0));
            if ty == 0 && i + 1 == raw.vlen {
                params.push("...".to_string());
                break;
            }
            let name = String::from_utf8_lossy(self.string(name_off)).into_owned();
            params.push(self.decl(ty, name, lvl, depth));
        }
        if params.is_empty() {
            return "void".into();
        }
        params.join(", ")
    }

    /// The name of a type that ends a declarator chain, or the inline definition of an
    /// anonymous struct, union or enum.
    fn base(&self, id: u32, raw: &Raw<'_>, lvl: usize) -> String {
        let name = String::from_utf8_lossy(self.string(raw.name_off)).into_owned();
        let tag = match raw.kind {
            Some(Kind::Struct) => "struct",
            Some(Kind::Union) => "union",
            Some(Kind::Enum | Kind::Enum64) => "enum",
            Some(Kind::Fwd) if raw.kind_flag => "union",
            Some(Kind::Fwd) => "struct",
            _ => return name,
        };
        if name.is_empty() && raw.kind != Some(Kind::Fwd) {
            // Each anonymous record inline is one level deeper; malformed BTF can make one
            // contain itself.
            let too_deep = || format!("{tag} /* nested too deep */");
            if lvl as u32 >= MAX_DEPTH || INLINED.get() >= MAX_INLINED {
                return too_deep();
            }
            INLINED.set(INLINED.get() + 1);
            return within(id, || self.body(id, raw, lvl)).unwrap_or_else(too_deep);
        }
        format!("{tag} {name}")
    }

    /// `struct NAME {` members `}` (or an enum's values), the closing brace at level `lvl`.
    fn body(&self, id: u32, raw: &Raw<'_>, lvl: usize) -> String {
        let name = String::from_utf8_lossy(self.string(raw.name_off)).into_owned();
        let named = if name.is_empty() { String::new() } else { format!(" {name}") };
        match raw.kind {
            Some(Kind::Enum | Kind::Enum64) => self.enum_body(raw, &named, lvl),
            _ => self.record_body(id, raw, &named, lvl),
        }
    }

    fn enum_body(&self, raw: &Raw<'_>, named: &str, lvl: usize) -> String {
        let mut out = format!("enum{named} {{");
        let wide = raw.kind == Some(Kind::Enum64);
        for i in 0..raw.vlen {
            let at = if wide { i * 12 } else { i * 8 };
            let name = String::from_utf8_lossy(self.string(word(raw.extra, at).unwrap_or(0)));
            let low = word(raw.extra, at + 4).unwrap_or(0);
            let value = match (wide, raw.kind_flag) {
                (true, signed) => {
                    let high = word(raw.extra, at + 8).unwrap_or(0);
                    let v = (u64::from(high) << 32) | u64::from(low);
                    if signed {
                        (v as i64).to_string()
                    } else {
                        v.to_string()
                    }
                }
                (false, true) => (low as i32).to_string(),
                (false, false) => low.to_string(),
            };
            out.push_str(&format!("\n{}{name} = {value},", tabs(lvl + 1)));
        }
        out.push_str(&format!("\n{}}}", tabs(lvl)));
        out
    }

    fn record_body(&self, id: u32, raw: &Raw<'_>, named: &str, lvl: usize) -> String {
        let is_struct = raw.kind == Some(Kind::Struct);
        let mut out = format!("{}{named} {{", if is_struct { "struct" } else { "union" });
        let align = self.align_of(id, 0);
        let packed = is_struct && self.is_packed(raw);
        let (mut off, mut prev_bitfield) = (0u32, false);
        for i in 0..raw.vlen {
            let (name_off, ty, m_off, m_sz) = member(raw, i);
            let m_align = if packed { 1 } else { self.align_of(ty, 0) };
            let in_bitfield = prev_bitfield && m_sz != 0;
            bit_padding(&mut out, off, m_off, m_align, in_bitfield, lvl + 1);
            let name = String::from_utf8_lossy(self.string(name_off)).into_owned();
            out.push_str(&format!("\n{}{}", tabs(lvl + 1), self.decl(ty, name, lvl + 1, 0)));
            if m_sz != 0 {
                out.push_str(&format!(": {m_sz}"));
                (off, prev_bitfield) = (m_off.saturating_add(m_sz), true);
            } else {
                (off, prev_bitfield) =
                    (m_off.saturating_add(self.size_of(ty, 0).saturating_mul(8)), false);
            }
            out.push(';');
        }
        if is_struct {
            bit_padding(&mut out, off, raw.size_or_type.saturating_mul(8), align, false, lvl + 1);
        }
        if raw.vlen > 0 || raw.size_or_type > 0 {
            out.push_str(&format!("\n{}}}", tabs(lvl)));
        } else {
            out.push('}');
        }
        if packed {
            out.push_str(" __attribute__((packed))");
        }
        out
    }

    /// `btf_is_struct_packed`: a non-bitfield member off its natural alignment, or a size
    /// that is not a multiple of the alignment.
    fn is_packed(&self, raw: &Raw<'_>) -> bool {
        let mut max_align = 1;
        for i in 0..raw.vlen {
            let (_, ty, m_off, m_sz) = member(raw, i);
            let align = self.align_of(ty, 0);
            if align != 0 && m_sz == 0 && !m_off.is_multiple_of(8 * align) {
                return true;
            }
            max_align = max_align.max(align);
        }
        !raw.size_or_type.is_multiple_of(max_align)
    }

    /// `btf__align_of`, 0 for what has no alignment (void, forward declarations).
    fn align_of(&self, id: u32, depth: u32) -> u32 {
        let Ok(raw) = self.raw(id) else { return 0 };
        if depth > MAX_DEPTH {
            return 0;
        }
        if depth == 0 {
            ALIGN_STEPS.set(0);
        }
        match raw.kind {
            // Malformed BTF can share a record between members at every level, which makes
            // the walk exponential: past a bound, say "unaligned" (only the listing's padding
            // of such BTF depends on it).
            Some(Kind::Struct | Kind::Union) if ALIGN_STEPS.get() >= MAX_ALIGN_STEPS => 1,
            Some(Kind::Int | Kind::Enum | Kind::Enum64 | Kind::Float) => {
                raw.size_or_type.min(PTR_SIZE)
            }
            Some(Kind::Ptr) => PTR_SIZE,
            Some(Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag) => {
                self.align_of(raw.size_or_type, depth + 1)
            }
            Some(Kind::Array) => self.align_of(word(raw.extra, 0).unwrap_or(0), depth + 1),
            Some(Kind::Struct | Kind::Union) => within(id, || {
                let mut max_align = 1;
                for i in 0..raw.vlen {
                    ALIGN_STEPS.set(ALIGN_STEPS.get() + 1);
                    let (_, ty, m_off, m_sz) = member(&raw, i);
                    let align = self.align_of(ty, depth + 1).max(1);
                    max_align = max_align.max(align);
                    if m_sz == 0 && !m_off.is_multiple_of(8 * align) {
                        return 1;
                    }
                }
                if !raw.size_or_type.is_multiple_of(max_align) {
                    return 1;
                }
                max_align
            })
            .unwrap_or(1),
            _ => 0,
        }
    }

    /// `btf__resolve_size`, 0 for what has no size.
    fn size_of(&self, id: u32, depth: u32) -> u32 {
        let Ok(raw) = self.raw(id) else { return 0 };
        if depth > MAX_DEPTH {
            return 0;
        }
        match raw.kind {
            Some(
                Kind::Int | Kind::Enum | Kind::Enum64 | Kind::Float | Kind::Struct | Kind::Union,
            ) => raw.size_or_type,
            Some(Kind::Ptr) => PTR_SIZE,
            Some(Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag) => {
                self.size_of(raw.size_or_type, depth + 1)
            }
            Some(Kind::Array) => {
                let (of, len) = (word(raw.extra, 0).unwrap_or(0), word(raw.extra, 8).unwrap_or(0));
                self.size_of(of, depth + 1).saturating_mul(len)
            }
            _ => 0,
        }
    }
}

/// Member `i` of a struct or union: name offset, type, bit offset, bitfield size (0 for an
/// ordinary member; only `kind_flag` records carry one, as in libbpf).
fn member(raw: &Raw<'_>, i: usize) -> (u32, u32, u32, u32) {
    let name_off = word(raw.extra, i * 12).unwrap_or(0);
    let ty = word(raw.extra, i * 12 + 4).unwrap_or(0);
    let offset = word(raw.extra, i * 12 + 8).unwrap_or(0);
    if raw.kind_flag {
        (name_off, ty, offset & 0xff_ffff, offset >> 24)
    } else {
        (name_off, ty, offset, 0)
    }
}

/// `btf_dump_emit_bit_padding`: explicit padding from bit `cur` to bit `next` where the
/// compiler's natural alignment would not put the next member there, with the widest of
/// `long`, `int`, `short`, `char` that aligns.
fn bit_padding(
    out: &mut String,
    mut cur: u32,
    next: u32,
    next_align: u32,
    in_bitfield: bool,
    lvl: usize,
) {
    const PADS: [(&str, u32); 4] =
        [("long", PTR_SIZE * 8), ("int", 32), ("short", 16), ("char", 8)];
    if cur >= next {
        return;
    }
    let (mut pad_type, mut pad_bits, mut new_off) = ("char", 8, 0);
    for (name, bits) in PADS {
        (pad_type, pad_bits, new_off) = (name, bits, cur.div_ceil(bits).saturating_mul(bits));
        if new_off <= next {
            break;
        }
    }
    if new_off > cur && new_off <= next {
        // An explicit `TYPE: 0` (or, in a bitfield run, the bit count) makes the compiler
        // align where the kernel's layout has the next member.
        let unit = next_align.max(1).saturating_mul(8);
        let natural = cur.div_ceil(unit).saturating_mul(unit);
        if in_bitfield
            || (new_off == next && natural != new_off)
            || (new_off != next && next - new_off <= new_off - cur)
        {
            let bits = if in_bitfield { new_off - cur } else { 0 };
            out.push_str(&format!("\n{}{pad_type}: {bits};", tabs(lvl)));
        }
        cur = new_off;
    }
    if next - cur > MAX_PADDING_BITS {
        // Malformed BTF (a member gigabytes in): say so rather than write millions of lines.
        out.push_str(&format!("\n{}/* {} bits of padding */", tabs(lvl), next - cur));
        return;
    }
    while cur != next {
        let bits = (next - cur).min(pad_bits);
        if bits == pad_bits {
            out.push_str(&format!("\n{}{pad_type}: {pad_bits};", tabs(lvl)));
            cur += bits;
            continue;
        }
        // The remainder, with the smallest type it fits.
        let (name, _) = PADS.iter().rev().find(|(_, b)| *b >= bits).copied().unwrap_or(PADS[0]);
        out.push_str(&format!("\n{}{name}: {bits};", tabs(lvl)));
        cur += bits;
    }
}

/// True when a declarator starts with `const`, `volatile` or `restrict` (keywords, so never
/// a name).
fn starts_with_qualifier(inner: &str) -> bool {
    let first = inner.split(' ').next().unwrap_or_default();
    matches!(first, "const" | "volatile" | "restrict")
}

fn tabs(lvl: usize) -> String {
    "\t".repeat(lvl)
}

/// A type's name and a declarator: `struct file` and `*f` → `struct file *f`.
fn join(base: &str, inner: &str) -> String {
    if inner.is_empty() {
        base.to_string()
    } else {
        format!("{base} {inner}")
    }
}

#[cfg(test)]
mod tests {
    use crate::btf::{Kind, Member, Reader, Writer};

    /// Malformed BTF (found by fuzzing): an anonymous struct whose member is itself, inline
    /// without end. The listing stops at the depth limit instead of overflowing the stack.
    #[test]
    fn an_anonymous_struct_containing_itself_stops() {
        let mut w = Writer::new();
        let int = w.int("int", 4, true);
        let member = |name, ty| Member { name, ty, offset_bits: 0, bitfield_size: 0 };
        // Ids are given in order: the anonymous struct is 2, the named one 3.
        // Twice: without a bound on the records inlined, the text doubles at each level.
        let anon = w.record("", false, 4, &[member("a", int), member("x", 2), member("y", 2)]);
        assert_eq!(anon, 2);
        w.record("outer", false, 4, &[member("in", anon)]);
        let reader = Reader::new(w.finish()).unwrap();
        let text = reader.c_definition("struct outer").unwrap();
        assert!(text.contains("nested too deep"), "{}", &text[..200]);
        assert!(text.len() < 10 << 20, "{} bytes", text.len());
        let _ = reader.resolve(3);
        let _ = reader.c_decl(2, "v");

        // A member four billion bits in (found by fuzzing: it padded with 60 million lines).
        let mut w = Writer::new();
        let int = w.int("int", 4, true);
        let far = Member { name: "far", ty: int, offset_bits: 4_000_000_000, bitfield_size: 0 };
        w.record("far", false, u32::MAX, &[far]);
        let text = Reader::new(w.finish()).unwrap().c_definition("struct far").unwrap();
        assert!(text.contains("bits of padding */") && text.len() < 1000, "{text}");

        // A prototype whose eight parameters point back at it: 8^32 declarators unbounded.
        let mut w = Writer::new();
        let int = w.int("int", 4, true);
        let ptr = w.ptr(3);
        let proto = w.func_proto(int, &[(0, ptr); 8]);
        assert_eq!((ptr, proto), (2, 3));
        let text = Reader::new(w.finish()).unwrap().c_decl(ptr, "f");
        assert!(text.len() < 10 << 20, "{} bytes", text.len());
    }

    /// Bitfields with a gap (explicit `long: 60;`), a function pointer, a pointer to const
    /// pointers, an anonymous union inline and an array; checked on the live kernel against
    /// bpftrace in the kernel tests.
    #[test]
    fn definitions_are_laid_out_as_btf_dump_writes_them() {
        let mut w = Writer::new();
        let uint = w.int("unsigned int", 4, false);
        let long = w.int("long", 8, true);
        let char_ = w.int("char", 1, true);
        let const_char = w.modifier(Kind::Const, "", char_);
        let ptr = w.ptr(const_char);
        let const_ptr = w.modifier(Kind::Const, "", ptr);
        let names = w.ptr(const_ptr);
        let s_ptr = w.ptr(13);
        let proto = w.func_proto(0, &[(0, s_ptr), (0, uint)]);
        let callback = w.ptr(proto);
        let comm = w.array(char_, uint, 16);
        let anon = w.record(
            "",
            true,
            8,
            &[
                Member { name: "x", ty: long, offset_bits: 0, bitfield_size: 0 },
                Member { name: "y", ty: uint, offset_bits: 0, bitfield_size: 0 },
            ],
        );
        let m =
            |name, ty, offset_bits, bitfield_size| Member { name, ty, offset_bits, bitfield_size };
        let s = w.record(
            "s",
            false,
            64,
            &[
                m("a", uint, 0, 1),
                m("b", uint, 1, 3),
                m("c", uint, 64, 1),
                m("d", long, 128, 0),
                m("f", callback, 192, 0),
                m("names", names, 256, 0),
                m("", anon, 320, 0),
                m("comm", comm, 384, 0),
            ],
        );
        assert_eq!(s, 13, "the pointer above points here");
        let reader = Reader::new(w.finish()).unwrap();
        let want = "struct s {\n\tunsigned int a: 1;\n\tunsigned int b: 3;\n\tlong: 60;\n\tunsigned int c: 1;\n\tlong d;\n\tvoid (*f)(struct s *, unsigned int);\n\tconst char * const *names;\n\tunion {\n\t\tlong x;\n\t\tunsigned int y;\n\t};\n\tchar comm[16];\n};";
        assert_eq!(reader.c_definition("struct s").unwrap(), want);
        assert_eq!(reader.c_decl(names, ""), "const char * const *");
        assert_eq!(reader.c_decl(s_ptr, "p"), "struct s *p");
        assert!(reader.c_definition("struct nope").is_err());
    }
}
