//! Embeds the report queries of the top-level `sql/` folder into the library.

use std::fmt::Write;

fn main() {
    // Read at run time, not with env!(): cargo reuses a compiled build script for a checkout
    // at another path (a CI clone sharing the target directory).
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let dir = std::path::Path::new(&manifest).join("../../sql");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the reports folder {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    assert!(!files.is_empty(), "no reports in {}", dir.display());
    files.sort();
    let mut out = String::from(
        "/// Report files embedded from `sql/`: (file name, text).\npub static BUILTIN: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().expect("file").to_string_lossy();
        let abs = std::fs::canonicalize(f).expect("report file");
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .expect("write");
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("reports.rs");
    std::fs::write(dest, out).expect("write reports.rs");
}
