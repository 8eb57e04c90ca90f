//! The engine's modules form layers: no module depends, directly or through
//! others, on itself. A cycle (`backup -> history -> metrics -> backup`)
//! means two jobs no longer have one owner each; this test names it.
//!
//! Dependencies are read from the source: `crate::<module>` paths (in `use`
//! lists too) outside comments and `#[cfg(test)]` code, and `super::<module>`
//! inside `archive/`, whose parts are layered among themselves. The C ABI
//! (`ffi`) sits on top of everything and is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name of a file under `src/`: its top-level module, or
/// `archive/<part>` for the archive's parts.
fn module_of(rel: &Path) -> Option<String> {
    let parts: Vec<String> = rel.with_extension("").iter().map(|p| p.to_string_lossy().into_owned()).collect();
    match parts.as_slice() {
        [one] if one == "lib" => None,
        [one] => Some(one.clone()),
        [top, ..] if top == "ffi" => None,
        [top, part] if top == "archive" && part != "mod" => Some(format!("archive/{part}")),
        [top, ..] => Some(top.clone()),
        [] => None,
    }
}

/// The code of a file without comments and without its `#[cfg(test)]` tail.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or(text);
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("//") {
                ""
            } else {
                l.split(" // ").next().unwrap_or(l)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Identifiers named right after `prefix` (`crate::a`, and each of `crate::{a, b::c}`).
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices(prefix) {
        let rest = &code[i + prefix.len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = &list[..list.find('}').unwrap_or(list.len())];
            for item in list.split(',') {
                out.insert(ident(item.trim()));
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|n| !n.is_empty() && n.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
    out
}

fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(module) = module_of(f.strip_prefix(&src).unwrap()) else { continue };
        graph.entry(module.clone()).or_default();
    }
    let known: BTreeSet<String> = graph.keys().cloned().collect();
    for f in &files {
        let Some(module) = module_of(f.strip_prefix(&src).unwrap()) else { continue };
        let code = code_of(&std::fs::read_to_string(f).unwrap());
        let top = module.split('/').next().unwrap().to_string();
        let mut deps: BTreeSet<String> = names_after(&code, "crate::").into_iter().filter(|d| *d != top).collect();
        if module.starts_with("archive/") {
            deps.extend(names_after(&code, "super::").into_iter().map(|d| format!("archive/{d}")));
        }
        deps.retain(|d| known.contains(d) && *d != module);
        graph.get_mut(&module).unwrap().extend(deps);
    }
    graph
}

/// Every set of modules that reach each other (Tarjan), largest first.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.graph[v] {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn no_module_depends_on_itself_through_others() {
    let graph = dependencies();
    assert!(graph.contains_key("backup") && graph.contains_key("archive/write"), "{graph:?}");
    let found = cycles(&graph);
    let explain: Vec<String> = found
        .iter()
        .map(|c| {
            let edges: Vec<String> = c
                .iter()
                .flat_map(|m| graph[m].iter().filter(|d| c.contains(d)).map(move |d| format!("{m} -> {d}")))
                .collect();
            edges.join(", ")
        })
        .collect();
    assert!(found.is_empty(), "module cycles: {explain:#?}");
}

#[test]
fn the_checker_finds_a_cycle() {
    let g: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
            .collect();
    assert_eq!(cycles(&g), vec![vec!["a".to_string(), "b".to_string(), "c".to_string()]]);
    let code = code_of("use crate::{backup::Report, metrics};\n// crate::history\nfn f() { crate::config::load(); }");
    assert_eq!(names_after(&code, "crate::"), ["backup", "config", "metrics"].map(String::from).into());
}
