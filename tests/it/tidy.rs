//! Tidy checks on the library's source, in the manner of rust-analyzer's `tidy` tests: the
//! layer order written in ARCHITECTURE.md ("Layers") is the order imports must follow, and no
//! module's submodules import each other in a circle.
//!
//! The check reads every `crate::…`, `super::…` and `self::…` path in `src/` (comments and
//! `#[cfg(test)]` modules left out: a unit test may reach up, e.g. to load an experiment file),
//! resolves it to the deepest module it names, and looks at the two modules' common ancestor:
//! at the crate root the importing module must lie above the imported one in ARCHITECTURE.md's
//! list; below the root the submodules of each module must form no circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type ModPath = Vec<String>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The layer order, lowest first: the first word of each line of ARCHITECTURE.md's `layers`
/// block.
fn layer_order() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md is at the repository's root");
    let start = text
        .find("```layers\n")
        .expect("ARCHITECTURE.md has a ```layers block");
    let body = &text[start + "```layers\n".len()..];
    let end = body.find("```").expect("the layers block is closed");
    body[..end]
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Every module of the library with its file: `src/a.rs` and `src/a/mod.rs` are `[a]`. The
/// binary's files (`main.rs`, `commands/`) are not part of the library.
fn library_modules() -> BTreeMap<ModPath, PathBuf> {
    fn walk(dir: &Path, rel: &mut ModPath, out: &mut BTreeMap<ModPath, PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("src/ is readable")
            .map(|e| e.expect("src/ entries are readable").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("source names are UTF-8")
                .to_string();
            if path.is_dir() {
                if rel.is_empty() && name == "commands" {
                    continue;
                }
                rel.push(name);
                walk(&path, rel, out);
                rel.pop();
            } else if let Some(stem) = name.strip_suffix(".rs") {
                if rel.is_empty() && (stem == "main" || stem == "lib") {
                    continue;
                }
                let mut m = rel.clone();
                if stem != "mod" {
                    m.push(stem.to_string());
                }
                out.insert(m, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&root().join("src"), &mut Vec::new(), &mut out);
    out
}

/// The source without comments and without `#[cfg(test)]` modules (by brace counting: the
/// attribute's next line opens the module).
fn code_of(text: &str) -> String {
    let mut no_block = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("/*") {
        no_block.push_str(&rest[..i]);
        rest = rest[i..].find("*/").map_or("", |j| &rest[i + j + 2..]);
    }
    no_block.push_str(rest);

    let lines: Vec<&str> = no_block.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let is_test_mod = lines[i].trim() == "#[cfg(test)]"
            && lines
                .get(i + 1)
                .is_some_and(|l| l.trim_start().starts_with("mod ") && l.trim_end().ends_with('{'));
        if is_test_mod {
            let mut depth = 0i64;
            i += 1;
            while i < lines.len() {
                depth +=
                    lines[i].matches('{').count() as i64 - lines[i].matches('}').count() as i64;
                i += 1;
                if depth == 0 {
                    break;
                }
            }
            continue;
        }
        let line = lines[i];
        out.push_str(line.find("//").map_or(line, |j| &line[..j]));
        out.push('\n');
        i += 1;
    }
    out
}

/// Splits a use-tree's brace contents at top-level commas, flattening nested braces into full
/// paths (`a::{b, c::{d}}` → `a::b`, `a::c::d`).
fn flatten(prefix: &str, inner: &str, out: &mut Vec<String>) {
    let mut depth = 0;
    let mut start = 0;
    let bytes = inner.as_bytes();
    let mut items = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        match item.find("::{") {
            Some(j) => {
                let close = item.rfind('}').expect("balanced braces in a use tree");
                flatten(
                    &format!("{prefix}::{}", &item[..j]),
                    &item[j + 3..close],
                    out,
                );
            }
            None => {
                let name = item.split(" as ").next().unwrap_or(item).trim();
                out.push(format!("{prefix}::{name}"));
            }
        }
    }
}

/// Every path in `code` that starts at `crate`, `super` or `self`.
fn paths_in(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let at_word = i == 0 || !ident(bytes[i - 1]);
        let head = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|h| bytes[i..].starts_with(h.as_bytes()));
        let Some(head) = head.filter(|_| at_word) else {
            i += 1;
            continue;
        };
        let mut j = i + head.len();
        while j < bytes.len() && (ident(bytes[j]) || bytes[j..].starts_with(b"::")) {
            j += if bytes[j] == b':' { 2 } else { 1 };
        }
        let path = code[i..j].trim_end_matches("::").to_string();
        if code[..j].ends_with("::") && bytes.get(j) == Some(&b'{') {
            let mut depth = 0;
            let mut k = j;
            while k < bytes.len() {
                match bytes[k] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                k += 1;
            }
            flatten(&path, &code[j + 1..k.min(bytes.len())], &mut out);
            i = k;
        } else {
            out.push(path);
            i = j;
        }
    }
    out
}

/// The deepest library module `path` names, seen from module `from`.
fn resolve(from: &[String], path: &str, modules: &BTreeMap<ModPath, PathBuf>) -> Option<ModPath> {
    let mut segs = path.split("::").peekable();
    let mut cur: ModPath = match segs.next()? {
        "crate" => Vec::new(),
        "self" => from.to_vec(),
        "super" => from[..from.len().saturating_sub(1)].to_vec(),
        _ => return None,
    };
    while segs.peek() == Some(&"super") {
        segs.next();
        cur.pop();
    }
    cur.extend(segs.map(str::to_string));
    (1..=cur.len())
        .rev()
        .map(|k| cur[..k].to_vec())
        .find(|m| modules.contains_key(m))
}

/// Import edges between sibling submodules, keyed by their parent (the root is `[]`): for each
/// `(parent, from, to)` one example file.
fn sibling_edges() -> BTreeMap<(ModPath, String, String), String> {
    let modules = library_modules();
    let mut edges = BTreeMap::new();
    for (m, file) in &modules {
        let text = std::fs::read_to_string(file).expect("source files are readable");
        for p in paths_in(&code_of(&text)) {
            let Some(t) = resolve(m, &p, &modules) else {
                continue;
            };
            let common = m.iter().zip(&t).take_while(|(a, b)| a == b).count();
            if common == m.len() || common == t.len() {
                continue; // a module and its ancestor or descendant
            }
            let rel = file.strip_prefix(root()).unwrap_or(file).display();
            edges
                .entry((m[..common].to_vec(), m[common].clone(), t[common].clone()))
                .or_insert_with(|| format!("{rel}: `{p}`"));
        }
    }
    edges
}

#[test]
fn imports_follow_the_layer_order() {
    let order = layer_order();
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let top: BTreeSet<String> = library_modules()
        .keys()
        .filter_map(|m| m.first().cloned())
        .collect();
    let listed: BTreeSet<String> = order.iter().cloned().collect();
    assert_eq!(
        top, listed,
        "ARCHITECTURE.md's layers block must list every top-level module of src/ exactly once"
    );
    assert_eq!(
        order.len(),
        listed.len(),
        "a module is listed twice in the layers block"
    );

    let mut against = Vec::new();
    for ((parent, from, to), example) in sibling_edges() {
        if parent.is_empty() && rank[from.as_str()] < rank[to.as_str()] {
            against.push(format!(
                "{from} (layer {}) imports {to} (layer {}): {example}",
                rank[from.as_str()],
                rank[to.as_str()]
            ));
        }
    }
    assert!(
        against.is_empty(),
        "imports against the layer order of ARCHITECTURE.md:\n{}",
        against.join("\n")
    );
}

#[test]
fn no_module_has_submodules_in_a_circle() {
    let edges = sibling_edges();
    let mut graphs: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (parent, from, to) in edges.keys() {
        graphs
            .entry(parent.clone())
            .or_default()
            .entry(from.clone())
            .or_default()
            .insert(to.clone());
    }
    let mut circles = Vec::new();
    for (parent, g) in &graphs {
        // Depth-first search for a back edge; the first found names the circle.
        fn visit(
            v: &str,
            g: &BTreeMap<String, BTreeSet<String>>,
            stack: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(at) = stack.iter().position(|s| s == v) {
                let mut c = stack[at..].to_vec();
                c.push(v.to_string());
                return Some(c);
            }
            if done.contains(v) {
                return None;
            }
            stack.push(v.to_string());
            for w in g.get(v).into_iter().flatten() {
                if let Some(c) = visit(w, g, stack, done) {
                    return Some(c);
                }
            }
            stack.pop();
            done.insert(v.to_string());
            None
        }
        let mut done = BTreeSet::new();
        for v in g.keys() {
            if let Some(c) = visit(v, g, &mut Vec::new(), &mut done) {
                let name = if parent.is_empty() {
                    "crate".to_string()
                } else {
                    parent.join("::")
                };
                let why: Vec<String> = c
                    .windows(2)
                    .map(|w| edges[&(parent.clone(), w[0].clone(), w[1].clone())].clone())
                    .collect();
                circles.push(format!(
                    "in {name}: {}\n  {}",
                    c.join(" → "),
                    why.join("\n  ")
                ));
                break;
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn only_the_evaluation_module_opens_the_test_split() {
    let mut callers = Vec::new();
    for file in library_modules().values() {
        let code = code_of(&std::fs::read_to_string(file).expect("source files are readable"));
        if code.contains("TestAccess::grant()") {
            callers.push(
                file.strip_prefix(root())
                    .unwrap_or(file)
                    .display()
                    .to_string(),
            );
        }
    }
    assert_eq!(
        callers,
        ["src/env/evaluation.rs"],
        "TestAccess::grant is for env::evaluation only"
    );
}

#[test]
fn the_checker_sees_what_it_checks() {
    // The parser finds nested use trees and ignores comments and test modules.
    let code = code_of(
        "use crate::a::{b::{C, d::E}, f as g};\n// use crate::h;\nfn x() { super::i::j(); }\n\
         #[cfg(test)]\nmod tests {\n    use crate::k;\n}\n",
    );
    assert_eq!(
        paths_in(&code),
        [
            "crate::a::b::C",
            "crate::a::b::d::E",
            "crate::a::f",
            "super::i::j"
        ]
    );
    let modules: BTreeMap<ModPath, PathBuf> = [vec!["a".to_string()], vec!["a".into(), "b".into()]]
        .into_iter()
        .map(|m| (m, PathBuf::new()))
        .collect();
    assert_eq!(
        resolve(&["z".into(), "y".into()], "crate::a::b::C", &modules),
        Some(vec!["a".to_string(), "b".into()])
    );
    assert_eq!(
        resolve(&["a".into(), "q".into()], "super::b", &modules),
        Some(vec!["a".to_string(), "b".into()])
    );
    assert_eq!(resolve(&["z".into()], "crate::nothing", &modules), None);
}
