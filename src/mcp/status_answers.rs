//! The last `worksync_status` answer for each project, given again while nothing changed.
//!
//! Agents call status first and often, and most calls find the plan as the previous call
//! did. Building the answer (every story of the active sprints, the work in progress,
//! claims, activity) and its JSON text copy is most of what a status call costs us; a
//! repeat costs a copy. An answer stands for one published version of the store (equal
//! versions mean equal content, see `Snapshot::version`) and only until the first claim it
//! lists runs out, since a lapsed claim leaves the answer although nothing was written.
//! Only answers to registered projects are kept (failures are not), so the map holds at
//! most one entry per project plus one for "every project".

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rmcp::model::CallToolResult;

/// Entries kept at most; past that (projects registered and removed over a long run) the
/// map starts afresh.
const MAX_ANSWERS: usize = 256;

/// The kept answers, by project (`None`: every project).
#[derive(Default)]
pub(crate) struct StatusAnswers {
    answers: Mutex<HashMap<Option<String>, Answer>>,
}

struct Answer {
    /// The store version the answer was built from.
    version: u64,
    /// When its first listed claim ends, if it lists any.
    holds_until: Option<DateTime<Utc>>,
    result: CallToolResult,
}

impl StatusAnswers {
    /// The answer kept for `project` if it was built from `version` and still holds at `now`.
    pub(crate) fn get(&self, project: Option<&str>, version: u64, now: DateTime<Utc>) -> Option<CallToolResult> {
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        let answer = answers.get(&project.map(str::to_string))?;
        let holds = answer.version == version && answer.holds_until.is_none_or(|until| now < until);
        holds.then(|| answer.result.clone())
    }

    /// Keeps `result`, the answer for `project` built from `version`.
    pub(crate) fn put(
        &self,
        project: Option<&str>,
        version: u64,
        holds_until: Option<DateTime<Utc>>,
        result: &CallToolResult,
    ) {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        let key = project.map(str::to_string);
        if answers.len() >= MAX_ANSWERS && !answers.contains_key(&key) {
            answers.clear();
        }
        answers.insert(key, Answer { version, holds_until, result: result.clone() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use serde_json::json;

    fn answer(n: u64) -> CallToolResult {
        CallToolResult::structured(json!({ "n": n }))
    }

    /// An answer is given again for its version only, and not once its first claim ended.
    #[test]
    fn an_answer_holds_for_its_version_until_its_first_claim_ends() {
        let answers = StatusAnswers::default();
        let now = Utc::now();
        answers.put(Some("a"), 7, Some(now + Duration::seconds(60)), &answer(1));
        answers.put(None, 7, None, &answer(2));
        assert_eq!(answers.get(Some("a"), 7, now), Some(answer(1)));
        assert_eq!(answers.get(None, 7, now + Duration::days(365)), Some(answer(2)));
        assert_eq!(answers.get(Some("a"), 8, now), None, "another version");
        assert_eq!(answers.get(Some("a"), 7, now + Duration::seconds(60)), None, "the claim ended");
        assert_eq!(answers.get(Some("b"), 7, now), None, "never asked");
    }

    /// Answers for many projects do not pile up.
    #[test]
    fn the_map_is_bounded() {
        let answers = StatusAnswers::default();
        for n in 0..(MAX_ANSWERS as u64 * 3) {
            answers.put(Some(&format!("p{n}")), 1, None, &answer(n));
        }
        assert!(answers.answers.lock().unwrap().len() <= MAX_ANSWERS);
    }
}
