//! The crate's layers: every module of `src/` imports only modules below it in [`LAYERS`],
//! so there is no import cycle between the top-level modules, and `wire`, at the bottom,
//! imports nothing of ours. The order is the one the README's Layout section and the crate
//! docs (`src/lib.rs`) describe.
//!
//! The check reads the source, not the compiler's view: every `crate::MODULE` path in
//! code (comments and string literals left out, `use crate::{a, b::c}` groups expanded;
//! `crate::framing` and `crate::descriptor` are `wire`'s, re-exported at the root) is an
//! import of MODULE. Test code counts too. The programs in `src/bin/` stand above all of
//! it and are not checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules from the bottom up: each may import only the ones before it.
const LAYERS: &[&str] = &[
    // The wire format and the words people write sizes in: nothing of ours below them.
    "wire",
    "units",
    // Moving bytes (mapped or streamed input, vectored writes, UDP, signals).
    "io",
    // The erasure codes over wire packets.
    "fec",
    // Media formats, each its own parser and writer.
    "pixel",
    "pnm",
    "bmp",
    "y4m",
    "jpeg",
    // The one image geometry (from those headers and a descriptor's head), concealment.
    "image",
    "conceal",
    // The image programs' engines: PNM to BMP (ppm2bmp), raw frames to PPM (raw2ppm).
    "convert",
    "rawvideo",
    // The pipeline's stages: bytes to packets, the lossy channel, packets to bytes.
    "packetize",
    "channel",
    "reassemble",
    // Only for the programs.
    "cli",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The source with comments, string literals and character literals blanked out, so that
/// neither a doc link nor a message is taken for an import.
fn code_of(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'r'
            && (rest.starts_with(b"r\"") || rest.starts_with(b"r#"))
            && (i == 0 || !is_ident(b[i - 1]))
        {
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            if rest.get(1 + hashes) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes)).into_bytes();
            i += 2 + hashes;
            while i < b.len() && !b[i..].starts_with(&close) {
                i += 1;
            }
            i += close.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' {
            // A character literal ('x', '\n', '\u{7f}', '{'), or a lifetime ('a).
            if rest.get(1) == Some(&b'\\') {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            } else if let Some(n) = text[i + 1..]
                .chars()
                .next()
                .map(char::len_utf8)
                .filter(|&n| rest.get(1 + n) == Some(&b'\''))
            {
                i += 2 + n;
                out.push_str("' '");
            } else {
                out.push('\'');
                i += 1;
            }
        } else {
            let len = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[i..i + len]);
            i += len;
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The first segment of every `crate::` path in `code`: `crate::wire::Header` gives `wire`,
/// `crate::{io, wire::Header}` gives `io` and `wire`.
fn crate_paths(code: &str) -> Vec<String> {
    let b = code.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = code[at..].find("crate") {
        let i = at + pos;
        at = i + 5;
        if i > 0 && is_ident(b[i - 1]) || b.get(i + 5).is_some_and(|&c| is_ident(c)) {
            continue;
        }
        let rest = code[i + 5..].trim_start();
        let Some(rest) = rest.strip_prefix("::") else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // The items of the group, at its own depth.
            let mut depth = 0;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphabetic() || c == '_') => {
                        item_start = false;
                        found.push(ident_at(&group[j..]));
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

fn ident_at(s: &str) -> String {
    s.bytes()
        .take_while(|&c| is_ident(c))
        .map(char::from)
        .collect()
}

/// The top-level modules `src/lib.rs` declares, and the names its `pub use` re-exports
/// make stand for one of them (`framing` for `wire`).
fn declared_modules() -> (BTreeSet<String>, BTreeMap<String, String>) {
    let lib = code_of(&std::fs::read_to_string(src().join("lib.rs")).unwrap());
    let mut modules = BTreeSet::new();
    let mut aliases = BTreeMap::new();
    for line in lib.lines().map(str::trim) {
        let line = line.trim_start_matches("pub ").trim_end_matches(';');
        if let Some(name) = line.strip_prefix("mod ") {
            modules.insert(name.trim().to_string());
        } else if let Some(path) = line.strip_prefix("use ") {
            if let Some((from, names)) = path.split_once("::") {
                let names = names.trim_matches(|c| c == '{' || c == '}');
                for name in names.split(',') {
                    let name = name.trim().rsplit("::").next().unwrap().trim();
                    if !name.is_empty() {
                        aliases.insert(name.to_string(), from.trim().to_string());
                    }
                }
            }
        }
    }
    (modules, aliases)
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Every import of one top-level module by another: (importer, imported) to the files
/// where it happens.
fn imports() -> BTreeMap<(String, String), BTreeSet<String>> {
    let (modules, aliases) = declared_modules();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src()).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if top == "bin" || top == "lib" {
            continue;
        }
        assert!(modules.contains(&top), "{} is in no module", rel.display());
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for name in crate_paths(&code) {
            let name = aliases.get(&name).cloned().unwrap_or(name);
            if name != top && modules.contains(&name) {
                edges
                    .entry((top.clone(), name))
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    edges
}

/// What is wrong with `edges` under `layers`: modules in no layer, imports of a module at or
/// above the importer, and the cycles among the modules.
fn violations(
    modules: &BTreeSet<String>,
    edges: &BTreeMap<(String, String), BTreeSet<String>>,
    layers: &[&str],
) -> Vec<String> {
    let rank = |m: &str| layers.iter().position(|&l| l == m);
    let mut problems = Vec::new();
    for m in modules {
        if rank(m).is_none() {
            problems.push(format!(
                "module {m} is in no layer: add it to LAYERS (tests/it/layering.rs), the \
                 README's Layout and src/lib.rs"
            ));
        }
    }
    for ((from, to), files) in edges {
        if let (Some(a), Some(b)) = (rank(from), rank(to)) {
            if b >= a {
                problems.push(format!(
                    "{from} imports {to}, a layer above it, in {}",
                    Vec::from_iter(files.iter().map(String::as_str)).join(", ")
                ));
            }
        }
    }
    problems.extend(
        cycles(edges)
            .into_iter()
            .map(|c| format!("import cycle: {}", c.join(" -> "))),
    );
    problems
}

/// Each strongly connected group of more than one module, as a path back to its start.
fn cycles(edges: &BTreeMap<(String, String), BTreeSet<String>>) -> Vec<Vec<String>> {
    let next = |m: &str| -> Vec<&str> {
        edges
            .keys()
            .filter(|(from, _)| from == m)
            .map(|(_, to)| to.as_str())
            .collect()
    };
    let reaches = |from: &str, to: &str| -> Option<Vec<String>> {
        // Breadth first, so the path shown is a shortest one.
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([from]);
        while let Some(m) = queue.pop_front() {
            for n in next(m) {
                if n == to {
                    let mut path = vec![to.to_string(), m.to_string()];
                    let mut at = m;
                    while let Some(&p) = parent.get(at) {
                        path.push(p.to_string());
                        at = p;
                    }
                    path.reverse();
                    return Some(path);
                }
                if n != from && !parent.contains_key(n) {
                    parent.insert(n, m);
                    queue.push_back(n);
                }
            }
        }
        None
    };
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    for (from, _) in edges.keys() {
        if seen.contains(from) {
            continue;
        }
        if let Some(path) = reaches(from, from) {
            seen.extend(path.iter().cloned());
            found.push(path);
        }
    }
    found
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let (modules, _) = declared_modules();
    let problems = violations(&modules, &imports(), LAYERS);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn wire_imports_nothing_of_ours() {
    let from_wire: Vec<_> = imports()
        .into_iter()
        .filter(|((from, _), _)| from == "wire")
        .collect();
    assert!(from_wire.is_empty(), "{from_wire:?}");
}

#[test]
fn the_check_sees_an_upward_import_and_a_cycle() {
    let (modules, aliases) = declared_modules();
    assert_eq!(aliases.get("framing").map(String::as_str), Some("wire"));
    // What the scanner takes for an import, and what it leaves.
    let code = code_of(
        "use crate::{io::Input, wire::{Header, HEADER_LEN}};\n\
         // crate::cli in a comment\n\
         let s = \"crate::reassemble\"; let c = '{'; fn f<'a>(x: &'a u8) {}\n\
         let n = crate::fec::MAX_PAYLOAD; let l = r#\"crate::bmp\"#; /* crate::pnm */",
    );
    assert_eq!(crate_paths(&code), ["io", "wire", "fec"]);
    // wire importing reassemble is upward, and with reassemble importing wire a cycle.
    let mut edges = imports();
    let file = BTreeSet::from(["wire/descriptor.rs".to_string()]);
    edges.insert(("wire".into(), "reassemble".into()), file);
    let problems = violations(&modules, &edges, LAYERS);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("wire imports reassemble, a layer above it")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("import cycle: ")),
        "{problems:?}"
    );
    // A module left out of the order is named.
    let problems = violations(&modules, &BTreeMap::new(), &LAYERS[1..]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("module wire is in no layer"));
}

/// The layer names in `text` in the order they first appear between backticks (a doc
/// link's brackets aside), each once.
fn layers_named(lines: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    for line in lines {
        for (i, word) in line.split('`').enumerate() {
            let word = word.trim_start_matches('[').trim_end_matches(']');
            if i % 2 == 1 && LAYERS.contains(&word) && !seen.iter().any(|s| s == word) {
                seen.push(word.to_string());
            }
        }
    }
    seen
}

#[test]
fn the_crate_docs_and_the_readme_list_the_layers_in_their_order() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("src/lib.rs reads");
    // The crate docs' table: one row per layer, its name first.
    let rows = lib
        .lines()
        .filter(|l| l.starts_with("//! | ") && !l.starts_with("//! | layer"))
        .map(|l| l.split(" | ").nth(1).unwrap_or_default().to_string());
    assert_eq!(layers_named(rows), LAYERS, "src/lib.rs's table of layers");
    let readme = std::fs::read_to_string(src().join("../README.md")).expect("README.md reads");
    let layout = readme
        .split("\n## Layout\n")
        .nth(1)
        .expect("the README has a Layout section");
    let layout = layout.split("\n## ").next().unwrap_or_default();
    let bullets = layout
        .lines()
        .filter(|l| l.starts_with("- "))
        .map(String::from);
    assert_eq!(layers_named(bullets), LAYERS, "the README's Layout list");
}
