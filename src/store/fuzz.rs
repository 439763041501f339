//! Property tests (bounded fuzzing, run in CI): loading arbitrary YAML never panics, and
//! whatever loads renders back to exactly itself after an edit.

use proptest::prelude::*;

use super::model::{BacklogItem, WorkIndex};
use super::yaml::{parse, render};

const SAMPLE: &str = include_str!("../../projects.example/orbit-api/work-index.yaml");

/// Mutations of a realistic file: a byte range replaced by arbitrary text.
fn mangled_sample() -> impl Strategy<Value = String> {
    (0..SAMPLE.len(), 0..64usize, "[ -~\n\t:#&*!|>'\"\\[\\]{},-]{0,40}").prop_map(|(at, len, insert)| {
        let mut start = at;
        while !SAMPLE.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + len).min(SAMPLE.len());
        while !SAMPLE.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}{}{}", &SAMPLE[..start], insert, &SAMPLE[end..])
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Arbitrary text and mangled sample files either load or fail with a located error;
    /// a file that loads takes an edit with a minimal diff that parses back exactly.
    #[test]
    fn loading_and_editing_never_panics(text in prop_oneof![mangled_sample(), "\\PC{0,200}"]) {
        let path = std::path::Path::new("fuzz.yaml");
        if let Ok(index) = parse::<WorkIndex>(path, &text) {
            let mut edited = index.clone();
            edited.backlog.get_or_insert_with(Vec::new).push(std::sync::Arc::new(BacklogItem { id: "fuzz-item".into(), ..Default::default() }));
            let old = serde_yaml_ng::to_value(&index).unwrap();
            let (rendered, _) = render(&text, &old, &edited).unwrap();
            let reparsed: WorkIndex = serde_yaml_ng::from_str(&rendered).unwrap();
            prop_assert_eq!(reparsed, edited);
        }
    }
}
