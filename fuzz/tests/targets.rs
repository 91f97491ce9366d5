//! The CI slice of the fuzz targets: a bounded number of inputs each (the committed corpus
//! replayed first, then mutations from a fixed seed). `BPFSCOPE_FUZZ_INPUTS=N` runs more.

use bpfscope_fuzz::{check, targets};

#[test]
fn script() {
    check(&targets::script::TARGET, 4000);
}

#[test]
fn preprocess() {
    check(&targets::preprocess::TARGET, 1500);
}

#[test]
fn cdecl() {
    check(&targets::cdecl::TARGET, 1500);
}

#[test]
fn printf() {
    check(&targets::printf::TARGET, 5000);
}

#[test]
fn tracefs() {
    check(&targets::tracefs::TARGET, 5000);
}

#[test]
fn btf() {
    check(&targets::btf::TARGET, 60);
}

#[test]
fn usdt() {
    check(&targets::usdt::TARGET, 5000);
}

#[test]
fn tool_options() {
    check(&targets::tool_options::TARGET, 5000);
}

#[test]
fn asm() {
    check(&targets::asm::TARGET, 5000);
}

#[test]
fn object() {
    check(&targets::object::TARGET, 3000);
}

#[test]
fn http() {
    check(&targets::http::TARGET, 1500);
}
