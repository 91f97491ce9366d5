//! Network addresses: `ntop` (an IPv4 or IPv6 address, printed as text), `pton` (the bytes
//! of an address written in the script) and `macaddr` (six bytes printed as a MAC address).
//! The program keeps the bytes (`Ty::Inet`: the family and 16 address bytes; `Ty::Mac`: 6
//! bytes in 8); user space prints them (`runtime/src/decode.rs`), as bpftrace does.

use std::net::IpAddr;

use bpfscope_bpf::{Helper, Insn, Reg, Size};
use bpfscope_syntax::{ast::Expr, Diagnostic};

use super::{arity, literal_text, string_literal, Family, Form, Function, Kind, Use};
use crate::{
    check::{diagnostics, Cx},
    lower::{Loc, Lower, Val},
    Ty,
};

/// `AF_INET` and `AF_INET6` (`linux/socket.h`).
const AF_INET: i64 = 2;
const AF_INET6: i64 = 10;

pub(super) const FAMILY: Family = Family {
    title: "Network addresses",
    intro: "Addresses are kept as bytes in the kernel and printed as text by user space.",
    functions: &[
        Function {
            name: "ntop",
            form: Form::Call,
            signature: "ntop([af,] addr)",
            summary: "The IPv4 or IPv6 address `addr` (an integer, or 4 or 16 bytes such as `args.saddr`) of family `af` (2 or 10; by default from its size), printed as `127.0.0.1` or `::1`.",
            kind: Kind::Expr { check: check_ntop, lower: lower_ntop },
        },
        Function {
            name: "pton",
            form: Form::Call,
            signature: "pton(\"addr\")",
            summary: "The bytes of the literal IPv4 (4 bytes) or IPv6 (16 bytes) address `addr`, in network order.",
            kind: Kind::Expr { check: check_pton, lower: lower_pton },
        },
        Function {
            name: "macaddr",
            form: Form::Call,
            signature: "macaddr(addr)",
            summary: "The 6 bytes `addr` (an array, or a pointer to them) printed as a MAC address, `AA:BB:CC:DD:EE:FF`.",
            kind: Kind::Expr { check: check_macaddr, lower: lower_macaddr },
        },
        Function {
            name: "socket_cookie",
            form: Form::Call,
            signature: "socket_cookie(struct sock *sk)",
            summary: "The kernel's cookie of the socket `sk` (`bpf_get_socket_cookie`: a unique, stable number, made on first use; 0 for NULL), in fentry, fexit and tp_btf probes, whose arguments are BTF pointers.",
            kind: Kind::Expr { check: check_socket_cookie, lower: lower_socket_cookie },
        },
    ],
};

// ---- socket_cookie ----

fn check_socket_cookie(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let tys: Vec<Ty> = u.args.iter().map(|a| cx.expr(a)).collect();
    if !arity(cx, u, &[1], "1 argument: a struct sock pointer") {
        return Ty::Error;
    }
    let is_sock = |ty: &Ty| match ty {
        Ty::Ptr { to, user: false } => match &**to {
            Ty::Record(r) => matches!(r.name.as_str(), "sock" | "sock_common"),
            _ => false,
        },
        _ => false,
    };
    if !is_sock(&tys[0]) && tys[0] != Ty::Error {
        cx.error(diagnostics::type_mismatch(
            u.args[0].span,
            "`socket_cookie()`",
            "a `struct sock *`",
            &tys[0],
        ));
        return Ty::Error;
    }
    for spec in cx.specs.clone() {
        // The kernel gives `bpf_get_socket_cookie` of a socket pointer to tracing programs
        // only, whose arguments the verifier knows as BTF pointers.
        if spec.kind() != crate::providers::ProgKind::Tracing {
            cx.error(
                diagnostics::wrong_probe_type(u.expr.span, "socket_cookie", &spec, "not a BTF-typed probe")
                    .with_help("use it in fentry, fexit or tp_btf probes, on a socket argument such as `args.sk`"),
            );
            return Ty::Error;
        }
    }
    Ty::U64
}

fn lower_socket_cookie(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let sk = cx.expr(&u.args[0]);
    cx.load_reg(&sk, Reg::R1);
    cx.call(Helper::GetSocketCookie);
    cx.spill(Reg::R0)
}

/// The number of bytes of a byte array type (`uint8[4]`, `int8[16]`), else `None`.
pub(super) fn byte_array_len(ty: &Ty) -> Option<u32> {
    match ty {
        Ty::Array { of, len } if matches!(**of, Ty::Int { bits: 8, .. }) => Some(*len),
        _ => None,
    }
}

// ---- ntop ----

fn check_ntop(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[1, 2], "an optional address family and an address") {
        return Ty::Error;
    }
    if u.args.len() == 2 {
        cx.expect_integer(&u.args[0], "`ntop()`'s address family", "an integer (2 or 10)");
    }
    let addr = &u.args[u.args.len() - 1];
    let ty = cx.expr(addr);
    match (&ty, byte_array_len(&ty)) {
        (Ty::Error, _) => Ty::Error,
        (_, Some(4 | 16)) => Ty::Inet,
        (t, None) if t.is_integer() => Ty::Inet,
        _ => {
            let expected = "an integer or an array of 4 or 16 bytes";
            cx.error(diagnostics::type_mismatch(addr.span, "`ntop()`", expected, &ty));
            Ty::Error
        }
    }
}

/// The family (8 bytes) and the address bytes (16, zero-padded) into a zeroed record.
fn lower_ntop(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let addr = &u.args[u.args.len() - 1];
    let addr_ty = cx.ty(addr);
    let len = byte_array_len(&addr_ty);
    let buf = cx.alloc_zeroed(Ty::Inet.size());
    match u.args.first().filter(|_| u.args.len() == 2) {
        Some(af) => {
            let af = cx.expr(af);
            cx.load_reg(&af, Reg::R0);
            cx.stx(Size::DW, buf, Reg::R0);
        }
        None => cx.st(Size::DW, buf, if len == Some(16) { AF_INET6 } else { AF_INET } as i32),
    }
    let v = cx.expr(addr);
    match (len, v) {
        (Some(n), Val::Mem(src)) => copy_bytes(cx, buf + 8, src, n),
        // An integer holds the address as it lies in memory: its low byte first.
        (None, v) => {
            cx.load_reg(&v, Reg::R0);
            cx.stx(Size::W, buf + 8, Reg::R0);
        }
        (Some(_), _) => unreachable!("byte arrays live in memory"),
    }
    Val::Mem(buf)
}

/// Copies `n` bytes (a multiple of 2) 8, 4 or 2 at a time: never past `n`, so a record
/// keeps the zeros it was made with.
fn copy_bytes(cx: &mut Lower<'_>, dst: Loc, src: Loc, n: u32) {
    let mut i = 0;
    while i < n {
        let (size, step) = match n - i {
            8.. => (Size::DW, 8),
            4..=7 => (Size::W, 4),
            2..=3 => (Size::H, 2),
            _ => (Size::B, 1),
        };
        cx.ldx(size, Reg::R0, src + i as i16);
        cx.stx(size, dst + i as i16, Reg::R0);
        i += step;
    }
}

// ---- pton ----

/// The address a `pton` literal names.
fn parse_address(text: &str) -> Option<Vec<u8>> {
    match text.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(a.octets().to_vec()),
        IpAddr::V6(a) => Some(a.octets().to_vec()),
    }
}

fn check_pton(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[1], "an address string") {
        return Ty::Error;
    }
    let Some(text) = string_literal(cx, &u.args[0], "the argument of `pton()`") else {
        return Ty::Error;
    };
    match parse_address(&text) {
        Some(bytes) => byte_array(bytes.len() as u32),
        None => {
            cx.error(
                Diagnostic::error(
                    format!("`{text}` is not an IPv4 or IPv6 address"),
                    u.args[0].span,
                    "not an address",
                )
                .with_help("write it as `127.0.0.1` or `::1`"),
            );
            Ty::Error
        }
    }
}

/// `uint8[len]`.
fn byte_array(len: u32) -> Ty {
    Ty::Array { of: Box::new(Ty::Int { bits: 8, signed: false }), len }
}

fn lower_pton(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let bytes = parse_address(&literal_text(&u.args[0])).unwrap_or_default();
    let buf = cx.alloc_zeroed((bytes.len() as u32).div_ceil(8) * 8);
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let word = i32::from_le_bytes(chunk.try_into().expect("4 bytes"));
        cx.st(Size::W, buf + (i * 4) as i16, word);
    }
    Val::Mem(buf)
}

// ---- macaddr ----

fn check_macaddr(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[1], "6 bytes or a pointer to them") {
        return Ty::Error;
    }
    let ty = cx.expr(&u.args[0]);
    match (&ty, byte_array_len(&ty)) {
        (Ty::Error, _) => Ty::Error,
        (_, Some(6)) => Ty::Mac,
        (t, None) if t.is_integer() => Ty::Mac,
        _ => {
            cx.error(diagnostics::type_mismatch(
                u.args[0].span,
                "`macaddr()`",
                "an array of 6 bytes or a pointer",
                &ty,
            ));
            Ty::Error
        }
    }
}

fn lower_macaddr(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let arg: &Expr = &u.args[0];
    let is_array = byte_array_len(&cx.ty(arg)).is_some();
    let v = cx.expr(arg);
    let buf = cx.alloc_zeroed(8);
    match v {
        Val::Mem(src) if is_array => copy_bytes(cx, buf, src, 6),
        v => {
            // A pointer to the 6 bytes, in the probe's memory (user for uprobes).
            let read = if cx.spec.user_pointers() {
                Helper::ProbeReadUser
            } else {
                Helper::ProbeReadKernel
            };
            cx.load_reg(&v, Reg::R3);
            cx.stack_addr(Reg::R1, buf);
            cx.insn(Insn::mov64_imm(Reg::R2, 6));
            cx.call(read);
        }
    }
    Val::Mem(buf)
}

#[cfg(test)]
mod tests {
    use super::parse_address;
    use crate::tests::{compile_err, compile_ok};

    #[test]
    fn addresses_type_and_parse() {
        compile_ok(
            r#"BEGIN { printf("%s %s %s\n", ntop(2, 0x0100007f), ntop(0x0100007f), ntop(pton("::1"))); }"#,
        );
        compile_ok(
            r#"BEGIN { @[ntop(10, pton("fe80::1"))] = count(); print(ntop(pton("1.2.3.4"))); }"#,
        );
        compile_ok(r#"kprobe:vfs_read { printf("%s\n", macaddr(arg0)); }"#);
        assert_eq!(parse_address("1.2.3.4"), Some(vec![1, 2, 3, 4]));
        assert_eq!(parse_address("::1").map(|b| b.len()), Some(16));
        let e = compile_err(r#"BEGIN { @ = pton("1.2.3"); }"#);
        assert!(e.contains("`1.2.3` is not an IPv4 or IPv6 address"), "{e}");
        let e = compile_err(r#"BEGIN { @ = ntop("x"); }"#);
        assert!(e.contains("an integer or an array of 4 or 16 bytes"), "{e}");
        let e = compile_err(r#"BEGIN { printf("%s\n", macaddr(pton("1.2.3.4"))); }"#);
        assert!(e.contains("an array of 6 bytes or a pointer"), "{e}");
        let e = compile_err(r#"BEGIN { printf("%d\n", ntop(1)); }"#);
        assert!(e.contains("`%d` expects an integer"), "{e}");
    }
}
