//! The vault as a reader sees it, not as text: every note goes through a CommonMark
//! renderer (pulldown-cmark) and no dashboard section is left with nothing but a code block
//! (a Dataview query or a diagram shows nothing without its plugin); then a project dashboard
//! and a table built from its Bases `Board` view are screenshotted in headless Chromium, so a
//! reviewer can look at the PNGs under `target/test-artifacts/vault/`.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pulldown_cmark::{Event, HeadingLevel, Options as Markdown, Parser, Tag, TagEnd};
use serde_yaml_ng::Value;
use worksync::store::{Layout, Snapshot};
use worksync::vault::{Generator, Options};

const PROJECT: &str = "orbit-api";

/// A data root bootstrapped from the bundled example and its vault, generated in full.
fn example_vault() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::new(root.path());
    layout.bootstrap().unwrap();
    let vault = layout.root().join("vault");
    let snapshot = Snapshot::read_only(&layout).expect("data root reads");
    let mut generator = Generator::new(vault.clone(), &layout.templates_dir());
    let report = generator.run(&snapshot, &Options { full: true, ..Options::default() }).expect("vault generates");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    (root, vault)
}

/// Every Markdown file under `dir`, by `/`-separated relative path.
fn markdown_files(dir: &Path) -> BTreeMap<String, String> {
    common::files_ending(dir, &["md"])
}

/// A note's YAML frontmatter (between its first two `---` lines) and the Markdown after it.
fn frontmatter_and_body(note: &str) -> (&str, &str) {
    let Some(rest) = note.strip_prefix("---\n") else { return ("", note) };
    let mut at = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return (&rest[..at], &rest[at + line.len()..]);
        }
        at += line.len();
    }
    ("", note)
}

fn markdown_options() -> Markdown {
    Markdown::ENABLE_TABLES | Markdown::ENABLE_STRIKETHROUGH
}

fn to_html(markdown: &str, options: Markdown) -> String {
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, Parser::new_ext(markdown, options));
    html
}

fn is_dashboard(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    path == "Global Dashboard.md" || matches!(parts[..], ["projects", _, "Dashboard.md"])
}

/// The `## ` sections of a note, each with how many pieces of text or HTML it shows outside
/// fenced code blocks and headings; what comes before the first `## `, if anything, is a
/// section too.
fn sections_and_visible_content(body: &str) -> Vec<(String, usize)> {
    let preamble = body.lines().take_while(|line| !line.starts_with("## ")).any(|line| !line.trim().is_empty());
    let mut sections = vec![("(before the first ## heading)".to_string(), 0)];
    let (mut in_code, mut in_heading, mut in_section_heading) = (false, false, false);
    for event in Parser::new_ext(body, markdown_options()) {
        if let Event::Start(Tag::Heading { level, .. }) = event {
            (in_heading, in_section_heading) = (true, level == HeadingLevel::H2);
            if in_section_heading {
                sections.push(("## ".to_string(), 0));
            }
            continue;
        }
        let (heading, visible) = sections.last_mut().unwrap();
        match event {
            Event::End(TagEnd::Heading(_)) => (in_heading, in_section_heading) = (false, false),
            Event::Start(Tag::CodeBlock(_)) => in_code = true,
            Event::End(TagEnd::CodeBlock) => in_code = false,
            Event::Text(text) | Event::Code(text) if in_section_heading => heading.push_str(&text),
            Event::Text(_) | Event::Code(_) | Event::Html(_) | Event::InlineHtml(_) if !in_code && !in_heading => {
                *visible += 1
            }
            _ => {}
        }
    }
    if !preamble {
        sections.remove(0);
    }
    sections
}

/// Every note of the example vault renders to non-empty HTML, and every section of every
/// dashboard shows something besides fenced code blocks: nothing a reader needs is only in a
/// Dataview query or a diagram that a plain Markdown reader (or Obsidian without the plugin)
/// shows as code.
#[test]
fn every_note_renders_and_no_dashboard_section_is_only_a_code_block() {
    let (_root, vault) = example_vault();
    let notes = markdown_files(&vault);
    let mut dashboards = 0;
    let mut code_only = Vec::new();
    for (path, note) in &notes {
        let (_, body) = frontmatter_and_body(note);
        assert!(!to_html(body, markdown_options()).trim().is_empty(), "{path} renders to nothing");
        if !is_dashboard(path) {
            continue;
        }
        dashboards += 1;
        for (heading, visible) in sections_and_visible_content(body) {
            if visible == 0 {
                code_only.push(format!("{path}: {heading}"));
            }
        }
    }
    assert!(notes.contains_key("Global Dashboard.md") && dashboards >= 2, "dashboards: {:?}", notes.keys());
    assert!(code_only.is_empty(), "sections with nothing outside code blocks:\n{}", code_only.join("\n"));
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title><style>\n\
         body {{ font: 15px/1.5 'DejaVu Sans', Arial, sans-serif; margin: 24px 40px; color: #222; }}\n\
         table {{ border-collapse: collapse; margin: 8px 0 16px; }}\n\
         th, td {{ border: 1px solid #999; padding: 3px 8px; text-align: left; vertical-align: top; }}\n\
         th {{ background: #eee; }}\n\
         pre {{ background: #f4f4f4; border: 1px solid #ddd; padding: 8px; white-space: pre-wrap; }}\n\
         a {{ color: #1a5fb4; text-decoration: none; }}\n\
         </style></head><body>\n{body}</body></html>\n",
        escape(title)
    )
}

/// The text a frontmatter value shows in a table cell: lists joined with ", ", a
/// `[[path|label]]` link as its label (a bare `[[path]]` as its last segment).
fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => match text.strip_prefix("[[").and_then(|link| link.strip_suffix("]]")) {
            Some(link) => link.split_once('|').map_or(link.rsplit('/').next().unwrap(), |(_, label)| label).into(),
            None => text.clone(),
        },
        Value::Sequence(items) => items.iter().map(cell_text).collect::<Vec<_>>().join(", "),
        other => serde_yaml_ng::to_string(other).unwrap().trim_end().to_string(),
    }
}

/// One Bases table view (`type: table`) over the story and backlog notes of a project folder,
/// as HTML: a column per `order` entry, headed by the property's `displayName`, and a table
/// per value of `groupBy.property`. Filters, sorting and limits are not applied.
fn bases_table(base: &str, view_name: &str, project_dir: &Path) -> String {
    let base: Value = serde_yaml_ng::from_str(base).expect("the .base file is YAML");
    let views = base["views"].as_sequence().expect("the .base file has a list of views");
    let view = views.iter().find(|view| view["name"].as_str() == Some(view_name)).expect("the view exists");
    let order = view["order"].as_sequence().expect("the view has an order");
    let columns: Vec<String> = order.iter().map(|entry| entry.as_str().expect("a property name").into()).collect();
    let group_by = view["groupBy"]["property"].as_str();
    let note_property = |property: &str| property.strip_prefix("note.").unwrap_or(property).to_string();
    let header = |property: &str| {
        let bare = note_property(property);
        [property.to_string(), format!("note.{bare}")]
            .iter()
            .find_map(|key| base["properties"][key.as_str()]["displayName"].as_str().map(str::to_string))
            .unwrap_or(bare)
    };
    let mut groups: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for folder in ["Stories", "Backlog"] {
        let mut notes: Vec<PathBuf> =
            std::fs::read_dir(project_dir.join(folder)).unwrap().map(|entry| entry.unwrap().path()).collect();
        notes.sort();
        for note in notes.iter().filter(|path| path.extension().is_some_and(|e| e == "md")) {
            let text = std::fs::read_to_string(note).unwrap();
            let properties: Value = serde_yaml_ng::from_str(frontmatter_and_body(&text).0).unwrap();
            let value_of = |property: &str| match property {
                "file.name" => note.file_stem().unwrap().to_string_lossy().into_owned(),
                _ => cell_text(&properties[note_property(property).as_str()]),
            };
            let group = group_by.map(value_of).unwrap_or_default();
            groups.entry(group).or_default().push(columns.iter().map(|column| value_of(column)).collect());
        }
    }
    let cells = |tag: &str, texts: &[String]| -> String {
        texts.iter().map(|text| format!("<{tag}>{}</{tag}>", escape(text))).collect()
    };
    let headers: Vec<String> = columns.iter().map(|column| header(column)).collect();
    let mut html =
        format!("<h1>{} · {}</h1>\n", escape(&project_dir.file_name().unwrap().to_string_lossy()), escape(view_name));
    for (group, rows) in &groups {
        if let Some(property) = group_by {
            let group = if group.is_empty() { "(none)" } else { group };
            html += &format!("<h2>{}: {}</h2>\n", escape(&header(property)), escape(group));
        }
        html += &format!("<table>\n<tr>{}</tr>\n", cells("th", &headers));
        for row in rows {
            html += &format!("<tr>{}</tr>\n", cells("td", row));
        }
        html += "</table>\n";
    }
    html
}

fn file_url(path: &Path) -> String {
    let plain = |byte: &u8| byte.is_ascii_alphanumeric() || b"/-._~".contains(byte);
    let path = std::path::absolute(path).unwrap().to_string_lossy().into_owned();
    let encoded = path.bytes().map(|b| if plain(&b) { char::from(b).to_string() } else { format!("%{b:02X}") });
    format!("file://{}", encoded.collect::<String>())
}

/// Screenshots `page` into `png` with headless Chromium (killed after a minute), and checks
/// that what it wrote is a PNG of some size (a blank page is smaller).
fn screenshot(page: &Path, png: &Path) {
    let _ = std::fs::remove_file(png);
    let scratch = tempfile::tempdir().unwrap();
    let log_path = scratch.path().join("chromium.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut browser = Command::new(common::chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", scratch.path().join("profile").display()))
        .arg("--window-size=1280,3000")
        .arg(format!("--screenshot={}", std::path::absolute(png).unwrap().display()))
        .arg(file_url(page))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("Chromium starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = browser.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = browser.kill();
            let _ = browser.wait();
            panic!("Chromium hung on {}:\n{}", page.display(), std::fs::read_to_string(&log_path).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(status.success(), "Chromium failed ({status}) on {}:\n{log}", page.display());
    let image = std::fs::read(png).unwrap_or_else(|e| panic!("no screenshot {}: {e}\n{log}", png.display()));
    assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", png.display());
    assert!(image.len() > 10_000, "{} is only {} bytes: a blank page?", png.display(), image.len());
}

/// The project dashboard, and a table laid out from the `Board` view of the project's Bases
/// file over its story and backlog notes' properties, render in a real browser: Chromium
/// screenshots both (PNG files a reviewer can open; the test prints where).
#[test]
fn a_dashboard_and_a_board_table_render_in_headless_chromium() {
    let (_root, vault) = example_vault();
    let project_dir = vault.join("projects").join(PROJECT);
    let out = common::artifacts_dir("vault");

    let dashboard = std::fs::read_to_string(project_dir.join("Dashboard.md")).unwrap();
    let options = markdown_options() | Markdown::ENABLE_WIKILINKS;
    let dashboard_page = out.join(format!("{PROJECT}-dashboard.html"));
    let html = html_page(&format!("{PROJECT} Dashboard"), &to_html(frontmatter_and_body(&dashboard).1, options));
    std::fs::write(&dashboard_page, html).unwrap();

    let base_path = project_dir.join("Board.base");
    let base = std::fs::read_to_string(&base_path)
        .unwrap_or_else(|e| panic!("the generated vault has no {} ({e})", base_path.display()));
    let board_page = out.join(format!("{PROJECT}-board.html"));
    std::fs::write(&board_page, html_page(&format!("{PROJECT} Board"), &bases_table(&base, "Board", &project_dir)))
        .unwrap();

    for page in [&dashboard_page, &board_page] {
        let png = page.with_extension("png");
        screenshot(page, &png);
        println!("{}\n{}", page.display(), png.display());
    }
}

/// The note properties a Bases file uses: `note.x` anywhere, and the bare names its filter
/// expressions compare (`ready == true`, `!claimed_by`, `date(lease_expires)`); quoted
/// strings, functions (`now()`, `file.inFolder(…)`), `file.*` and literals are not properties.
fn properties_named(base: &str) -> std::collections::BTreeSet<String> {
    /// Every string in `value`, each marked if it is an expression under a `filters` key.
    fn strings(value: &Value, in_filters: bool, into: &mut Vec<(String, bool)>) {
        match value {
            Value::String(text) => into.push((text.clone(), in_filters)),
            Value::Sequence(items) => items.iter().for_each(|v| strings(v, in_filters, into)),
            Value::Mapping(map) => map.iter().for_each(|(key, v)| {
                strings(key, false, into);
                strings(v, in_filters || key == "filters", into)
            }),
            _ => {}
        }
    }
    let value: Value = serde_yaml_ng::from_str(base).expect("the .base file is YAML");
    let mut texts = Vec::new();
    strings(&value, false, &mut texts);
    let mut named = std::collections::BTreeSet::new();
    for (text, is_expression) in texts {
        let unquoted: String = text.split('"').step_by(2).collect::<Vec<_>>().join(" ");
        let chars: Vec<char> = unquoted.chars().collect();
        let mut at = 0;
        while at < chars.len() {
            if !(chars[at].is_ascii_alphabetic() || chars[at] == '_') {
                at += 1;
                continue;
            }
            let start = at;
            while at < chars.len() && (chars[at].is_ascii_alphanumeric() || "_.".contains(chars[at])) {
                at += 1;
            }
            let word: String = chars[start..at].iter().collect();
            let is_call = chars.get(at) == Some(&'(');
            if let Some(property) = word.strip_prefix("note.") {
                named.insert(property.to_string());
            } else if is_expression
                && !is_call
                && !word.starts_with("file.")
                && !["true", "false"].contains(&word.as_str())
            {
                named.insert(word);
            }
        }
    }
    named
}

/// The frontmatter keys a note template can write (`key:` lines between its `---` lines).
fn template_keys(template: &str) -> std::collections::BTreeSet<String> {
    let front = template.split("\n---\n").next().unwrap_or_default();
    front
        .lines()
        .filter_map(|line| line.split_once(':').map(|(key, _)| key))
        .filter(|key| !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(str::to_string)
        .collect()
}

/// Every generated `.base` file parses as YAML with views, and every property its columns,
/// groups, sorts and filters name is one the story or backlog notes carry (a typo would be
/// an empty column in Obsidian, silently).
#[test]
fn bases_files_parse_and_name_only_properties_the_notes_carry() {
    let (root, vault) = example_vault();
    let templates = root.path().join("templates");
    let read = |name: &str| {
        std::fs::read_to_string(templates.join(name))
            .or_else(|_| std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("templates").join(name)))
            .unwrap()
    };
    let mut carried = template_keys(read("story.md").split_once("---\n").unwrap().1);
    carried.extend(template_keys(read("backlog.md").split_once("---\n").unwrap().1));
    for key in ["type", "status", "priority", "sprint", "theme", "claimed_by", "lease_expires", "depends_on", "blocked"]
    {
        assert!(carried.contains(key), "the notes carry `{key}` (issue 16's list): {carried:?}");
    }
    let mut bases = 0;
    for base in ["Board.base".to_string(), format!("projects/{PROJECT}/Board.base")] {
        let text = std::fs::read_to_string(vault.join(&base)).unwrap_or_else(|e| panic!("{base}: {e}"));
        let parsed: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{base}: {e}"));
        let views = parsed["views"].as_sequence().unwrap_or_else(|| panic!("{base} has no views"));
        assert!(views.iter().all(|v| v["type"] == "table" && v["name"].is_string()), "{base}: {views:?}");
        let named = properties_named(&text);
        assert!(named.contains("status") && named.contains("lease_expires"), "{base}: {named:?}");
        let unknown: Vec<&String> = named.iter().filter(|p| !carried.contains(*p)).collect();
        assert!(unknown.is_empty(), "{base} names properties no note carries: {unknown:?}");
        bases += 1;
    }
    assert_eq!(bases, 2);
}
