//! Compile-fail tests: each case under `tests/ui/` must fail to compile for the reason its
//! comment names; the blessed `.stderr` files pin the error codes (`TRYBUILD=overwrite`
//! re-blesses them after a toolchain change).

#[test]
fn illegal_uses_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
