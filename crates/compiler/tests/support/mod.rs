//! Shared support for the compiler's integration tests.

pub mod gen;
