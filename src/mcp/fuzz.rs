//! Property tests (bounded fuzzing, run in CI) of tool-argument parsing: any JSON object a
//! client sends either deserializes into a tool's parameters and passes or fails the
//! store's validation, or is refused; nothing panics.

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::backlog_tools::{AddBacklogParams, RemoveBacklogParams, UpdateBacklogParams};
use super::coordination_tools::{ChangesParams, ClaimParams, NextParams};
use super::project_tools::RegisterParams;
use super::sprint_tools::{AddStoryParams, DoneParams, UpdateStoryParams};
use crate::store::model::BacklogStatus;
use crate::store::{Guard, Mutation, Operation};

const KEYS: [&str; 16] = [
    "project",
    "id",
    "summary",
    "theme",
    "status",
    "related_sprints",
    "agent",
    "priority",
    "expected_rev",
    "force",
    "sprint_id",
    "story_id",
    "notes",
    "append_notes",
    "kind",
    "lease_minutes",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,24}".prop_map(Value::String),
        prop_oneof![Just("todo"), Just("done"), Just("story"), Just("../x"), Just("STORY-1"), Just("orbit-api")]
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arguments() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((prop::sample::select(KEYS.to_vec()), json_value()), 0..10)
        .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn parse<T: DeserializeOwned>(args: &Map<String, Value>) -> Option<T> {
    serde_json::from_value(Value::Object(args.clone())).ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Arbitrary arguments never panic in parsing or validation.
    #[test]
    fn tool_arguments_never_panic(args in arguments()) {
        if let Some(p) = parse::<AddBacklogParams>(&args) {
            let edit = Mutation::AddBacklog {
                id: p.id, priority: p.priority, summary: p.summary, theme: p.theme,
                status: p.status.unwrap_or(BacklogStatus::Todo), related_sprints: p.related_sprints,
                depends_on: p.depends_on,
            };
            let _ = Operation::from(edit).validate();
        }
        if let Some(p) = parse::<UpdateBacklogParams>(&args) {
            let edit = Mutation::UpdateBacklog {
                id: p.id, priority: p.priority, status: p.status, summary: p.summary, theme: p.theme,
                related_sprints: p.related_sprints, depends_on: p.depends_on,
            };
            let _ = Operation::Edit { edit, guard: Guard { expected_rev: p.expected_rev, force: p.force } }.validate();
        }
        if let Some(p) = parse::<UpdateStoryParams>(&args) {
            let edit = Mutation::UpdateStory {
                sprint_id: p.sprint_id, story_id: p.story_id, status: p.status, notes: p.notes, append_notes: p.append_notes,
                depends_on: p.depends_on,
            };
            let _ = Operation::from(edit).validate();
        }
        if let Some(p) = parse::<ClaimParams>(&args) {
            let _ = Operation::Claim { target: p.kind, id: p.id, lease_minutes: p.lease_minutes, force: p.force }.validate();
        }
        if let Some(p) = parse::<NextParams>(&args) {
            let _ = Operation::Next { claim: p.claim, lease_minutes: p.lease_minutes, spread: 0 }.validate();
        }
        if let Some(p) = parse::<RegisterParams>(&args) {
            let _ = crate::store::validate::project_name(&p.name);
        }
        let _ = parse::<RemoveBacklogParams>(&args);
        let _ = parse::<AddStoryParams>(&args);
        let _ = parse::<DoneParams>(&args);
        let _ = parse::<ChangesParams>(&args);
    }
}
