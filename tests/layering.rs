//! The source tree keeps its walls: the folders of `src/` import each other without a cycle,
//! nothing outside the driver (`src/ring/`) names its core or the `io_uring` instance, and
//! `unsafe` is opted into per leaf file only, every other file forbidding it (invariant 10).
//! These read the sources, so a change that breaks a wall fails here, not in review.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The top-level folder of `src/` a file sits in, if any.
fn folder_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let mut parts = rel.components();
    let first = parts.next()?.as_os_str().to_str()?.to_owned();
    parts.next().map(|_| first)
}

/// Lines that are code, not comments (doc links name other modules freely).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.trim_start().starts_with("//"))
}

/// The file without its `#[cfg(test)] mod tests` (tests may reach anywhere).
fn without_tests(text: &str) -> &str {
    text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text)
}

/// `crate::NAME` paths used in `text`'s code, outside its tests.
fn crate_imports(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in code_lines(without_tests(text)) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// Which folders each folder's code imports.
fn folder_graph() -> BTreeMap<String, BTreeSet<String>> {
    let folders: BTreeSet<String> = rust_files(&src())
        .iter()
        .filter_map(|f| folder_of(f))
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src()) {
        let Some(folder) = folder_of(&file) else {
            continue;
        };
        let text = fs::read_to_string(&file).unwrap();
        let deps = graph.entry(folder.clone()).or_default();
        for name in crate_imports(&text) {
            if name != folder && folders.contains(&name) {
                deps.insert(name);
            }
        }
    }
    graph
}

/// A cycle in `graph`, if any, as the path around it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_folders_of_src_import_each_other_without_a_cycle() {
    let graph = folder_graph();
    assert!(
        graph.len() >= 8,
        "expected the layer folders, found {graph:?}"
    );
    assert_eq!(find_cycle(&graph), None, "folder imports: {graph:#?}");
    // The driver sits below every other layer but `probe/`, the kernel's facts (version,
    // opcodes, features: what the driver asks the kernel before anything else), which
    // imports no layer at all.
    let below_ring: BTreeSet<String> = ["probe".to_owned()].into();
    assert!(
        graph["ring"].is_subset(&below_ring),
        "ring/ imports other layers: {:?}",
        graph["ring"]
    );
    assert!(
        graph.get("probe").is_none_or(BTreeSet::is_empty),
        "probe/ imports other layers: {:?}",
        graph["probe"]
    );
}

#[test]
fn nothing_outside_the_driver_names_its_core_or_the_io_uring_instance() {
    for file in rust_files(&src()) {
        if folder_of(&file).as_deref() == Some("ring") {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        for line in code_lines(without_tests(&text)) {
            let words: Vec<&str> = line
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .collect();
            for banned in ["core", "Core", "IoUring", "uring", "with_core"] {
                assert!(
                    !words.contains(&banned),
                    "{}: `{banned}` outside src/ring/: {line}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn unsafe_is_allowed_only_in_leaf_files_and_forbidden_in_the_others() {
    let mut allowed = Vec::new();
    for file in rust_files(&src()) {
        let name = file.file_name().unwrap().to_str().unwrap();
        let text = fs::read_to_string(&file).unwrap();
        let opts_in = text.contains("#![allow(unsafe_code)]");
        let has_unsafe = code_lines(&text).any(|l| l.contains("unsafe "));
        if name == "mod.rs" || name == "lib.rs" {
            assert!(!opts_in, "{} opts its children into unsafe", file.display());
            assert!(!has_unsafe, "{} holds unsafe code", file.display());
            continue;
        }
        if opts_in {
            assert!(
                has_unsafe,
                "{} allows unsafe it does not use",
                file.display()
            );
            allowed.push(name.to_owned());
        } else if !has_unsafe {
            assert!(
                text.contains("#![forbid(unsafe_code)]"),
                "{} is pure but does not forbid unsafe",
                file.display()
            );
        }
    }
    // The pure core of the driver stays pure.
    for pure in [
        "slots.rs",
        "after_reap.rs",
        "layers.rs",
        "shutdown.rs",
        "builder.rs",
    ] {
        assert!(!allowed.iter().any(|a| a == pure), "{pure} allows unsafe");
    }
}
