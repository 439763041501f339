//! Reusable prompts that live with a project: `projects/<name>/PROMPTS/*.md`.
//!
//! Each file is Markdown with YAML frontmatter (`description`, `arguments: [{name,
//! description, required}]`); its body uses `{{argument}}` placeholders. The server offers
//! each file as an MCP prompt named `<project>.<file stem>`, beside the built-in prompts.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::StoreError;
use super::snapshot::Snapshot;
use super::validate;

/// One prompt file, parsed.
#[derive(Debug, Clone)]
pub struct PromptFile {
    /// `<project>.<stem>`.
    pub name: String,
    pub description: Option<String>,
    pub arguments: Vec<PromptArgument>,
    pub body: String,
}

/// A declared argument of a prompt file.
#[derive(Debug, Clone, Deserialize)]
pub struct PromptArgument {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Default, Deserialize)]
struct Frontmatter {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    arguments: Vec<PromptArgument>,
}

impl Snapshot {
    /// Every project's prompt files, by name. A file whose frontmatter does not parse is
    /// skipped with a warning (it must not hide the others).
    pub fn prompt_files(&self) -> BTreeMap<String, PromptFile> {
        let mut prompts = BTreeMap::new();
        for (project, _) in self.config.projects() {
            let Ok(dir) = self.layout.project_dir(project).map(|dir| dir.join("PROMPTS")) else { continue };
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
                if path.extension().is_none_or(|e| e != "md") || validate::id("prompt", stem).is_err() {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else { continue };
                match parse(&text) {
                    Ok((front, body)) => {
                        let name = format!("{project}.{stem}");
                        let file = PromptFile {
                            name: name.clone(),
                            description: front.description,
                            arguments: front.arguments,
                            body,
                        };
                        prompts.insert(name, file);
                    }
                    Err(e) => tracing::warn!(path = %path.display(), error = %e, "skipping a prompt file"),
                }
            }
        }
        prompts
    }
}

impl PromptFile {
    /// The body with `{{argument}}` placeholders filled; a missing required argument is an
    /// error naming it.
    pub fn render(&self, given: &BTreeMap<String, String>) -> Result<String, StoreError> {
        let mut text = self.body.clone();
        for argument in &self.arguments {
            let value = match given.get(&argument.name) {
                Some(value) => value.as_str(),
                None if argument.required => {
                    return Err(StoreError::invalid(
                        "arguments",
                        format!("prompt '{}' needs the argument '{}'", self.name, argument.name),
                        format!("Pass {} in the prompt's arguments.", argument.name),
                    ));
                }
                None => "",
            };
            text = text.replace(&format!("{{{{{}}}}}", argument.name), value);
        }
        Ok(text)
    }
}

/// Splits `---\nfrontmatter\n---\nbody`; a file without frontmatter is all body.
fn parse(text: &str) -> Result<(Frontmatter, String), serde_yaml_ng::Error> {
    let Some(rest) = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n")) else {
        return Ok((Frontmatter::default(), text.to_string()));
    };
    let Some(end) = rest.find("\n---") else {
        return Ok((Frontmatter::default(), text.to_string()));
    };
    let front: Frontmatter = serde_yaml_ng::from_str(&rest[..end])?;
    let body = rest[end + 4..].trim_start_matches(['\r', '\n']).to_string();
    Ok((front, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frontmatter arguments are declared and filled; required ones are enforced.
    #[test]
    fn parses_and_fills() {
        let (front, body) = parse("---\ndescription: Review\narguments:\n  - name: sprint_id\n    required: true\n---\nReview {{sprint_id}} now.\n").unwrap();
        let file =
            PromptFile { name: "p.review".into(), description: front.description, arguments: front.arguments, body };
        let mut given = BTreeMap::new();
        assert!(file.render(&given).is_err());
        given.insert("sprint_id".to_string(), "s1".to_string());
        assert_eq!(file.render(&given).unwrap(), "Review s1 now.\n");
    }
}
