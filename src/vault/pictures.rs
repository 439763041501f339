//! Pictures of the plan as Mermaid diagrams, which Obsidian draws without any plugin: a pie
//! of a sprint's story statuses and a graph of what waits for what, coloured by status.
//!
//! Ids, titles and statuses come from files people and agents write, so nothing of them is
//! ever Mermaid syntax: nodes are named `n0`, `n1` … and every text is a quoted label whose
//! quotes, `#`, angle brackets, backticks (which could close the Markdown fence) and line
//! breaks are written as Mermaid's entity codes. An id such as `A"]-->B` is only a label.
//! A graph keeps at most [`GRAPH_CAP`] items (the ones that block or are blocked first) and
//! says how many it left out, so that a 10,000-item project still gives a picture a person
//! can read.

use std::collections::HashMap;
use std::fmt::Write as _;

/// Most items one graph shows.
pub const GRAPH_CAP: usize = 200;

/// Longest label a node shows (characters), cut at a word.
const LABEL_CHARS: usize = 48;

/// Text safe inside a quoted Mermaid label: entity codes for everything that could end the
/// label, the statement or the code fence.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' => out.push_str("#96;"),
            '&' => out.push_str("#38;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A pie of how many stories are in each status (`counts` in display order); `None` when
/// there is nothing to draw.
pub fn pie(title: &str, counts: &[(&str, usize)]) -> Option<String> {
    if counts.iter().all(|(_, n)| *n == 0) {
        return None;
    }
    let mut out = format!("pie showData title {}\n", escape(title));
    for (status, n) in counts.iter().filter(|(_, n)| *n > 0) {
        let _ = writeln!(out, "    \"{}\" : {n}", escape(&super::names::status_words(status)));
    }
    Some(out)
}

/// One item of a dependency graph.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// Storage key (`story/STORY-1`), which edges name.
    pub key: &'a str,
    pub id: &'a str,
    pub title: &'a str,
    pub status: &'a str,
    /// Waiting for an unfinished dependency.
    pub blocked: bool,
}

/// A drawn graph and how many items it left out.
#[derive(Debug)]
pub struct Graph {
    pub mermaid: String,
    pub shown: usize,
    pub total: usize,
}

/// The graph of `edges` (`(item, dependency)` storage keys) between `nodes`, dependencies
/// pointing at what waits for them; `None` without an edge. Items in `nodes` order, so a
/// caller lists the ones to keep first when there are more than [`GRAPH_CAP`].
pub fn dependency_graph(nodes: &[Node], edges: &[(&str, &str)]) -> Option<Graph> {
    let total = nodes.len();
    let index: HashMap<&str, usize> = nodes.iter().take(GRAPH_CAP).enumerate().map(|(n, node)| (node.key, n)).collect();
    let drawn: Vec<(usize, usize)> =
        edges.iter().filter_map(|(item, dependency)| Some((*index.get(dependency)?, *index.get(item)?))).collect();
    if drawn.is_empty() {
        return None;
    }
    let mut out = String::from("flowchart LR\n");
    let mut classes: [Vec<usize>; 4] = Default::default();
    for (n, node) in nodes.iter().take(GRAPH_CAP).enumerate() {
        let title = super::names::shorten(node.title, LABEL_CHARS);
        let label = if title.is_empty() { escape(node.id) } else { format!("{}: {}", escape(node.id), escape(&title)) };
        let _ = writeln!(out, "    n{n}[\"{label}\"]");
        classes[class_of(node)].push(n);
    }
    for (from, to) in &drawn {
        let _ = writeln!(out, "    n{from} --> n{to}");
    }
    for (class, style) in CLASSES {
        let _ = writeln!(out, "    classDef {class} {style}");
    }
    for ((class, _), members) in CLASSES.iter().zip(&classes) {
        if !members.is_empty() {
            let list: Vec<String> = members.iter().map(|n| format!("n{n}")).collect();
            let _ = writeln!(out, "    class {} {class}", list.join(","));
        }
    }
    Some(Graph { mermaid: out, shown: total.min(GRAPH_CAP), total })
}

/// Node classes: done, in progress, blocked, waiting to start (any other status).
const CLASSES: [(&str, &str); 4] = [
    ("done", "fill:#d3f9d8,stroke:#2b8a3e,color:#1b4332"),
    ("active", "fill:#d0ebff,stroke:#1864ab,color:#0b2f55"),
    ("blocked", "fill:#ffe3e3,stroke:#c92a2a,color:#5c0d0d"),
    ("open", "fill:#f1f3f5,stroke:#868e96,color:#212529"),
];

fn class_of(node: &Node) -> usize {
    match node.status {
        "done" => 0,
        _ if node.blocked => 2,
        "in_progress" => 1,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_ids_stay_labels() {
        let evil = "A\"]-->B[\"x` ```\n# <script>";
        let escaped = escape(evil);
        for bad in ['"', '`', '\n', '<', '>'] {
            assert!(!escaped.contains(bad), "{escaped}");
        }
        let nodes = [
            Node { key: "story/a", id: evil, title: "", status: "done", blocked: false },
            Node { key: "story/b", id: "B", title: "needs a", status: "planned", blocked: false },
        ];
        let graph = dependency_graph(&nodes, &[("story/b", "story/a")]).unwrap();
        assert_eq!(graph.mermaid.matches("-->").count(), 1, "{}", graph.mermaid);
        assert!(graph.mermaid.contains("n0 --> n1"));
        assert!(!graph.mermaid.contains("```"));
    }

    #[test]
    fn a_graph_is_capped_and_says_so() {
        let keys: Vec<String> = (0..300).map(|n| format!("backlog/{n}")).collect();
        let nodes: Vec<Node> =
            keys.iter().map(|k| Node { key: k, id: k, title: "", status: "todo", blocked: false }).collect();
        let edges: Vec<(&str, &str)> = keys.windows(2).map(|w| (w[1].as_str(), w[0].as_str())).collect();
        let graph = dependency_graph(&nodes, &edges).unwrap();
        assert_eq!((graph.shown, graph.total), (GRAPH_CAP, 300));
        assert_eq!(graph.mermaid.matches("-->").count(), GRAPH_CAP - 1);
        assert!(dependency_graph(&nodes, &[]).is_none());
    }

    #[test]
    fn a_pie_leaves_out_empty_slices() {
        let pie = pie("Sprint \"1\"", &[("done", 2), ("in_progress", 1), ("planned", 0)]).unwrap();
        assert!(pie.contains("\"in progress\" : 1") && !pie.contains("planned"), "{pie}");
        assert!(pie.starts_with("pie showData title Sprint #quot;1#quot;"));
        assert!(super::pie("x", &[("done", 0)]).is_none());
    }
}
