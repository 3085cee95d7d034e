//! The layout rule of crm-domain, checked: no module imports another in a circle.
//!
//! Every source file is a node; a file depends on the file that defines each item it names
//! through `crate::...` or `super::...` (in `use` declarations and inline paths), following the
//! contexts' `pub use` re-exports to the defining file. Test code (`#[cfg(test)] mod tests`,
//! `*tests.rs`) is left out: tests may reach anywhere. The test fails naming the cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

type ModPath = Vec<String>;

/// Every `.rs` file under `dir`, as (module path, source).
fn sources(dir: &Path, prefix: &[String], out: &mut BTreeMap<ModPath, String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut p = prefix.to_vec();
            p.push(name);
            sources(&path, &p, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let mut p = prefix.to_vec();
            if stem != "mod" && stem != "lib" {
                p.push(stem.to_owned());
            }
            let text = fs::read_to_string(&path).unwrap_or_default();
            out.insert(p, text);
        }
    }
}

/// The source without comments and without its test module.
fn production_code(text: &str) -> String {
    let cut = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..cut]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its leaf paths.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        let path: Vec<String> = tree
            .split("::")
            .map(|s| s.split(" as ").next().unwrap_or(s).to_owned())
            .collect();
        return vec![path];
    };
    let base: Vec<String> = tree[..open]
        .trim_end_matches("::")
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let inner = &tree[open + 1..tree.len() - 1];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in inner.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    let mut out = Vec::new();
    for part in parts.into_iter().filter(|p| !p.is_empty() && *p != "self") {
        for leaf in expand(part) {
            let mut p = base.clone();
            p.extend(leaf);
            out.push(p);
        }
    }
    out
}

/// The `use` trees of a file with whether each is a `pub use`.
fn use_trees(code: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = &rest[..i];
        let at_line_start = before.is_empty() || before.ends_with('\n') || before.ends_with("pub ");
        let public = before.ends_with("pub ");
        let after = &rest[i + 4..];
        let end = after.find(';').unwrap_or(after.len());
        if at_line_start {
            out.push((public, after[..end].to_owned()));
        }
        rest = &after[end.min(after.len())..];
    }
    out
}

/// Absolute module path of `path` written in module `me`.
fn absolute(me: &[String], path: &[String]) -> Option<ModPath> {
    match path.first().map(String::as_str) {
        Some("crate") => Some(path[1..].to_vec()),
        Some("super") => {
            let mut base = me.to_vec();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend_from_slice(rest);
            Some(base)
        }
        Some("self") => {
            let mut base = me.to_vec();
            base.extend_from_slice(&path[1..]);
            Some(base)
        }
        _ => None,
    }
}

#[test]
fn no_module_imports_another_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    sources(&src, &[], &mut files);
    assert!(files.len() > 20, "read only {} files", files.len());
    let code: BTreeMap<ModPath, String> = files
        .iter()
        .filter(|(p, _)| !p.last().is_some_and(|l| l.ends_with("tests")))
        .map(|(p, t)| (p.clone(), production_code(t)))
        .collect();

    // (module, name) -> absolute path it re-exports.
    let mut reexports: BTreeMap<(ModPath, String), ModPath> = BTreeMap::new();
    for (me, text) in &code {
        for (public, tree) in use_trees(text) {
            if !public {
                continue;
            }
            for leaf in expand(&tree) {
                let abs = absolute(me, &leaf).unwrap_or_else(|| {
                    let mut p = me.clone();
                    p.extend(leaf.iter().cloned());
                    p
                });
                if let Some(name) = leaf.last() {
                    reexports.insert((me.clone(), name.clone()), abs);
                }
            }
        }
    }
    // The file that defines what `path` names.
    let defining = |path: &ModPath| -> Option<ModPath> {
        let mut path = path.clone();
        for _ in 0..8 {
            let k = (1..=path.len())
                .rev()
                .find(|&k| code.contains_key(&path[..k]))?;
            let (module, rest) = (path[..k].to_vec(), &path[k..]);
            match rest
                .first()
                .and_then(|n| reexports.get(&(module.clone(), n.clone())))
            {
                Some(target) if *target != path[..k + 1] => {
                    let mut next = target.clone();
                    next.extend_from_slice(&rest[1..]);
                    path = next;
                }
                _ => return Some(module),
            }
        }
        None
    };

    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (me, text) in &code {
        let mut paths: Vec<Vec<String>> = use_trees(text)
            .iter()
            .filter(|(public, _)| !public)
            .flat_map(|(_, t)| expand(t))
            .collect();
        // Inline paths such as `crate::customer::load_live(...)`.
        for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
            if word.starts_with("crate::") || word.starts_with("super::") {
                paths.push(word.split("::").map(str::to_owned).collect());
            }
        }
        for p in paths {
            let Some(abs) = absolute(me, &p) else {
                continue;
            };
            let Some(target) = defining(&abs) else {
                continue;
            };
            // A module may use its own parent's re-export hub only through the defining file.
            if target != *me && !me.starts_with(&target) {
                edges.entry(me.clone()).or_default().insert(target);
            }
        }
    }

    // Depth-first search for a back edge; report the cycle it closes.
    fn visit(
        v: &ModPath,
        edges: &BTreeMap<ModPath, BTreeSet<ModPath>>,
        state: &mut BTreeMap<ModPath, u8>,
        stack: &mut Vec<ModPath>,
    ) -> Option<Vec<ModPath>> {
        state.insert(v.clone(), 1);
        stack.push(v.clone());
        for w in edges.get(v).into_iter().flatten() {
            match state.get(w) {
                Some(1) => {
                    let from = stack.iter().position(|x| x == w).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(w.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(w, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(v.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for v in code.keys() {
        if !state.contains_key(v) {
            let cycle = visit(v, &edges, &mut state, &mut Vec::new());
            assert!(
                cycle.is_none(),
                "modules import each other in a circle: {}",
                cycle
                    .unwrap_or_default()
                    .iter()
                    .map(|p| p.join("::"))
                    .collect::<Vec<_>>()
                    .join(" -> ")
            );
        }
    }
    // The check sees real dependencies (guards against a parser that finds none).
    let customer_service = edges
        .get(&vec!["customer".to_owned(), "service".to_owned()])
        .cloned()
        .unwrap_or_default();
    assert!(
        customer_service.contains(&vec!["customer".to_owned(), "ports".to_owned()]),
        "customer::service should depend on customer::ports: {customer_service:?}"
    );
}
