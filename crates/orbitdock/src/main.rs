//! `orbitdock` binary.
fn main() {}
