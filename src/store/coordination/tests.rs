//! The coordination rules on a clock the test sets: every operation gets its `now` injected
//! (`Change`), so a lease can end, be renewed or be overridden at the exact instant a test
//! names, with no waiting. Operations run as the writer runs them: on a copy of the project
//! that is kept only if the operation succeeds.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::store::model::{BacklogStatus, StoryStatus};
use crate::store::outcome::Pick;
use crate::store::sidecar::Claim;

/// Three sprints (one not active), stories in every status, and a backlog whose file order
/// differs from its priority order (priorities are set by `Project::new`).
const PLAN: &str = "\
sprints:
- id: s0
  status: planned
  stories:
  - id: STORY-1
    status: planned
- id: s1
  status: active
  stories:
  - id: STORY-2
    status: done
  - id: STORY-3
    status: planned
    notes: the plan
  - id: STORY-4
    status: planned
- id: s2
  status: active
  stories:
  - id: STORY-5
    status: in_progress
  - id: STORY-6
    status: planned
backlog:
- id: b-done
  status: done
- id: b-low
  status: todo
- id: b-first
  status: todo
- id: b-unset
  status: todo
- id: b-second
  status: todo
- id: b-started
  status: in_progress
";

/// The priorities `PLAN`'s backlog gets (`b-unset` keeps the default, 3).
const PRIORITIES: [(&str, u8); 5] = [("b-done", 1), ("b-low", 5), ("b-first", 1), ("b-second", 1), ("b-started", 1)];

/// A project's work index and sidecar, changed only by the operations a test runs.
struct Project {
    index: WorkIndex,
    meta: Sidecar,
    policy: Policy,
}

impl Project {
    /// `PLAN` with its backlog priorities set (through the edit that sets them for agents).
    fn new() -> Project {
        let index = serde_yaml_ng::from_str(PLAN).expect("PLAN parses");
        let mut project = Project { index, meta: Sidecar::default(), policy: Policy::default() };
        for (id, priority) in PRIORITIES {
            let edit = Mutation::UpdateBacklog {
                id: id.into(),
                priority: Some(priority),
                status: None,
                summary: None,
                theme: None,
                related_sprints: None,
                depends_on: None,
            };
            project.run("planner", at(-60), edit.into()).expect("priority set");
        }
        project
    }

    /// Executes `operation` for `agent` at `now`, keeping its changes only if it succeeds.
    fn run(&mut self, agent: &str, now: DateTime<Utc>, operation: Operation) -> Result<Executed, StoreError> {
        let (mut index, mut meta) = (self.index.clone(), self.meta.clone());
        let change = Change { agent: agent.into(), now };
        let executed = operation.execute(&mut index, &mut meta, &change, &self.policy)?;
        (self.index, self.meta) = (index, meta);
        Ok(executed)
    }

    /// The id `worksync_next` offers `agent` at `now` (without claiming it).
    fn next_for(&mut self, agent: &str, now: DateTime<Utc>) -> Option<String> {
        match self
            .run(agent, now, Operation::Next { claim: false, lease_minutes: None, spread: 0 })
            .expect("next")
            .outcome
        {
            Outcome::Next { pick, .. } => pick.map(|pick| pick.item.id),
            other => panic!("next answered {other:?}"),
        }
    }

    /// Who holds `key` at `now`.
    fn holder(&self, key: &ItemKey, now: DateTime<Utc>) -> Option<&str> {
        self.meta.claim(key, now).map(|claim| claim.agent.as_str())
    }

    /// A hand edit of a story's status (the claim on it, if any, stays).
    fn set_story_status(&mut self, id: &str, status: StoryStatus) {
        let sprint = self.index.sprint_of_story(id).expect("story exists").id.clone();
        let sprint = self.index.sprint_mut(&sprint).expect("sprint exists");
        let story = sprint.stories.iter_mut().flatten().find(|s| s.id == id).expect("story exists");
        story.status = Some(status.as_str().into());
    }

    /// A hand edit of a backlog item's status (the claim on it, if any, stays).
    fn set_backlog_status(&mut self, id: &str, status: BacklogStatus) {
        self.index.backlog_item_mut(id).expect("item exists").status = Some(status.as_str().into());
    }

    fn story_status(&self, id: &str) -> &str {
        let sprint = self.index.sprint_of_story(id).expect("story exists");
        sprint.stories().iter().find(|s| s.id == id).expect("story exists").status()
    }
}

/// `minutes` after the moment every test starts from.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

const MS: Duration = Duration::milliseconds(1);

fn claim(target: Target, id: &str, lease_minutes: f64) -> Operation {
    Operation::Claim { target, id: id.into(), lease_minutes: Some(lease_minutes), force: false }
}

fn story(id: &str) -> ItemKey {
    ItemKey::Story(id.into())
}

/// Until when a claim holds, from its outcome.
fn until_of(executed: &Executed) -> DateTime<Utc> {
    match &executed.outcome {
        Outcome::Claimed { until, .. } => *until,
        other => panic!("expected a claim, got {other:?}"),
    }
}

/// The holder a refusal names, and until when; panics on anything but a refusal for a claim.
fn refused_by(result: Result<Executed, StoreError>) -> (String, DateTime<Utc>) {
    match result {
        Err(StoreError::Held { holder, until, .. }) => (holder, until),
        Err(other) => panic!("expected a refusal for a claim, got {other}"),
        Ok(executed) => panic!("expected a refusal for a claim, got {:?}", executed.outcome),
    }
}

/// A claim refuses another agent, naming holder and lease end, up to the last instant of its
/// lease; the instant after, the other agent takes it.
#[test]
fn a_claim_refuses_others_until_its_lease_ends() {
    let mut project = Project::new();
    let claimed = project.run("agent-a", at(0), claim(Target::Story, "STORY-3", 10.0)).unwrap();
    let until = until_of(&claimed);
    assert_eq!(until, at(10));
    assert_eq!(project.story_status("STORY-3"), "in_progress", "claiming a planned story starts it");

    for now in [at(5), until - MS] {
        let refused = refused_by(project.run("agent-b", now, claim(Target::Story, "STORY-3", 10.0)));
        assert_eq!(refused, ("agent-a".to_string(), until), "at {now}");
    }
    assert_eq!(project.holder(&story("STORY-3"), until - MS), Some("agent-a"));

    let taken = project.run("agent-b", until + MS, claim(Target::Story, "STORY-3", 10.0)).unwrap();
    match taken.outcome {
        Outcome::Claimed { item, until: taken_until, renewed } => {
            assert_eq!(item.claim.map(|c| c.agent).as_deref(), Some("agent-b"));
            assert_eq!(taken_until, until + MS + Duration::minutes(10));
            assert!(!renewed, "another agent's expired claim is not a renewal");
        }
        other => panic!("expected a claim, got {other:?}"),
    }
}

/// The holder claiming again renews: the lease runs from the renewal, and another agent is
/// refused past the first lease's end.
#[test]
fn renewing_a_claim_extends_its_lease() {
    let mut project = Project::new();
    project.run("agent-a", at(0), claim(Target::Backlog, "b-first", 10.0)).unwrap();
    let renewed = project.run("agent-a", at(8), claim(Target::Backlog, "b-first", 10.0)).unwrap();
    assert!(matches!(renewed.outcome, Outcome::Claimed { renewed: true, .. }), "{:?}", renewed.outcome);
    assert_eq!(until_of(&renewed), at(18));

    let refused = refused_by(project.run("agent-b", at(12), claim(Target::Backlog, "b-first", 10.0)));
    assert_eq!(refused, ("agent-a".to_string(), at(18)));
    project.run("agent-b", at(18) + MS, claim(Target::Backlog, "b-first", 10.0)).unwrap();
}

/// Another agent's edit of a claimed item is refused (and changes nothing) unless forced; a
/// forced edit is made, names whose claim it overrode, and leaves the claim with its holder.
#[test]
fn a_forced_edit_over_a_claim_is_recorded() {
    let mut project = Project::new();
    project.run("agent-a", at(0), claim(Target::Story, "STORY-3", 30.0)).unwrap();
    let edit = Mutation::UpdateStory {
        sprint_id: "s1".into(),
        story_id: "STORY-3".into(),
        status: None,
        notes: None,
        append_notes: Some("B was here".into()),
        depends_on: None,
    };
    let unforced = Operation::Edit { edit: edit.clone(), guard: Guard::default() };
    let (holder, _) = refused_by(project.run("agent-b", at(1), unforced));
    assert_eq!(holder, "agent-a");
    let notes = |project: &Project| project.index.sprint("s1").unwrap().stories()[1].notes.clone().unwrap();
    assert_eq!(notes(&project), "the plan", "a refused edit changes nothing");

    let forced = Operation::Edit { edit: edit.clone(), guard: Guard { expected_rev: None, force: true } };
    let executed = project.run("agent-b", at(2), forced).unwrap();
    assert_eq!(executed.forced_over.as_deref(), Some("agent-a"));
    assert!(notes(&project).ends_with("B was here"), "{}", notes(&project));
    assert_eq!(project.meta.item(&story("STORY-3")).unwrap().updated_by, "agent-b");
    assert_eq!(project.holder(&story("STORY-3"), at(2)), Some("agent-a"), "forcing an edit does not take the claim");

    let own = project.run("agent-a", at(3), edit.into()).unwrap();
    assert_eq!(own.forced_over, None, "the holder's own edit overrides nobody");
}

/// Only the holder releases a claim; another agent needs force, and a forced release names
/// whose claim it ended. Releasing what nobody holds changes nothing.
#[test]
fn release_by_another_agent_needs_force() {
    let mut project = Project::new();
    project.run("agent-a", at(0), claim(Target::Story, "STORY-3", 30.0)).unwrap();
    let release = |force| Operation::Release { target: Target::Story, id: "STORY-3".into(), force };

    let (holder, _) = refused_by(project.run("agent-b", at(1), release(false)));
    assert_eq!(holder, "agent-a");
    assert_eq!(project.holder(&story("STORY-3"), at(1)), Some("agent-a"));

    let forced = project.run("agent-b", at(2), release(true)).unwrap();
    assert_eq!(forced.forced_over.as_deref(), Some("agent-a"));
    let released = Outcome::Released { kind: Kind::Story, id: "STORY-3".into(), holder: Some("agent-a".into()) };
    assert_eq!(forced.outcome, released);
    assert_eq!(
        forced.events,
        vec![Event::item(&story("STORY-3"), "released", Some(project.meta.rev(&story("STORY-3"))))]
    );
    assert_eq!(project.holder(&story("STORY-3"), at(2)), None);

    let nothing = project.run("agent-b", at(3), release(false)).unwrap();
    assert_eq!(nothing.outcome, Outcome::Released { kind: Kind::Story, id: "STORY-3".into(), holder: None });
    assert!(nothing.events.is_empty() && !nothing.index_changed);

    project.run("agent-a", at(4), claim(Target::Story, "STORY-3", 30.0)).unwrap();
    let own = project.run("agent-a", at(5), release(false)).unwrap();
    assert_eq!(own.forced_over, None, "the holder's own release overrides nobody");
}

/// `next` offers the planned stories of active sprints in file order (a planned sprint's
/// stories and stories in other statuses are not offered), then the todo backlog by
/// priority, 1 first and 3 when unset, file order breaking ties; then nothing.
#[test]
fn next_takes_active_sprints_stories_then_the_backlog_by_priority() {
    let mut project = Project::new();
    let order = ["STORY-3", "STORY-4", "STORY-6", "b-first", "b-second", "b-unset", "b-low"];
    for expected in order {
        assert_eq!(project.next_for("agent-a", at(0)).as_deref(), Some(expected));
        // Another agent takes it: claiming sets it in progress, out of the next agent's way.
        let target = if expected.starts_with("STORY") { Target::Story } else { Target::Backlog };
        project.run("agent-b", at(0), claim(target, expected, 30.0)).unwrap();
    }
    assert_eq!(project.next_for("agent-a", at(0)), None);
}

/// `next` says why it picked what it picked: the sprint of a story, the priority of a
/// backlog item.
#[test]
fn next_gives_its_reason() {
    let mut project = Project::new();
    let reason = |project: &mut Project| match project.run(
        "a",
        at(0),
        Operation::Next { claim: true, lease_minutes: None, spread: 0 },
    ) {
        Ok(Executed { outcome: Outcome::Next { pick: Some(Pick { reason, .. }), .. }, .. }) => reason,
        other => panic!("expected a pick, got {other:?}"),
    };
    assert!(reason(&mut project).contains("active sprint 's1'"));
    for _ in 0..2 {
        reason(&mut project);
    }
    assert!(reason(&mut project).contains("(P1)"));
}

/// Items another agent holds are skipped even while they are still planned or todo (a hand
/// edit set them back), but an agent's own claim is offered to it; once the lease ends, the
/// item is free for everyone again.
#[test]
fn next_skips_what_others_hold_but_not_the_agents_own() {
    let mut project = Project::new();
    let until = until_of(&project.run("agent-b", at(0), claim(Target::Story, "STORY-3", 10.0)).unwrap());
    project.set_story_status("STORY-3", StoryStatus::Planned);
    assert_eq!(project.next_for("agent-a", at(1)).as_deref(), Some("STORY-4"), "another agent's claim is skipped");
    assert_eq!(project.next_for("agent-b", at(1)).as_deref(), Some("STORY-3"), "the agent's own claim is not");
    assert_eq!(project.next_for("agent-a", until + MS).as_deref(), Some("STORY-3"), "an expired claim is no claim");

    for id in ["STORY-3", "STORY-4", "STORY-6"] {
        project.set_story_status(id, StoryStatus::Done);
    }
    let until = until_of(&project.run("agent-b", at(0), claim(Target::Backlog, "b-first", 10.0)).unwrap());
    project.set_backlog_status("b-first", BacklogStatus::Todo);
    assert_eq!(project.next_for("agent-a", at(1)).as_deref(), Some("b-second"), "another agent's claim is skipped");
    assert_eq!(project.next_for("agent-b", at(1)).as_deref(), Some("b-first"), "the agent's own claim is not");
    assert_eq!(project.next_for("agent-a", until + MS).as_deref(), Some("b-first"), "an expired claim is no claim");
}

/// `next` with claim takes the item in the same step: it is in progress, held by the agent
/// for the lease asked for, and the next agent gets the following item.
#[test]
fn next_with_claim_takes_the_item_in_progress() {
    let mut project = Project::new();
    let next = Operation::Next { claim: true, lease_minutes: Some(15.0), spread: 0 };
    let executed = project.run("agent-a", at(0), next.clone()).unwrap();
    let Outcome::Next { pick: Some(pick), .. } = &executed.outcome else { panic!("{:?}", executed.outcome) };
    assert_eq!(pick.item.id, "STORY-3");
    assert_eq!(pick.claimed, Some((at(15), false)));
    assert_eq!(pick.item.fields["status"], "in_progress", "the item as it is after the claim");
    assert_eq!(project.story_status("STORY-3"), "in_progress");
    assert_eq!(project.holder(&story("STORY-3"), at(15) - MS), Some("agent-a"));
    assert_eq!(executed.events, vec![Event::item(&story("STORY-3"), "claimed", Some(pick.item.rev))]);
    assert!(executed.index_changed, "setting the story in progress changes the work index");

    let other = project.run("agent-b", at(0), next).unwrap();
    let Outcome::Next { pick: Some(pick), .. } = other.outcome else { panic!("{:?}", other.outcome) };
    assert_eq!(pick.item.id, "STORY-4");
}

/// A done story or backlog item cannot be claimed, and the refusal changes nothing.
#[test]
fn a_done_item_cannot_be_claimed() {
    let mut project = Project::new();
    for (target, id) in [(Target::Story, "STORY-2"), (Target::Backlog, "b-done")] {
        match project.run("agent-a", at(0), claim(target, id, 30.0)) {
            Err(StoreError::Invalid { field: "id", message, .. }) => {
                assert!(message.contains("already done"), "{message}")
            }
            other => panic!("claiming done {id}: {other:?}"),
        }
    }
    assert!(project.meta.claims.is_empty());
}

/// Expired claims are dropped from the sidecar by the next operation (so `state.json` does
/// not keep them); live ones stay.
#[test]
fn expired_claims_are_dropped() {
    let mut project = Project::new();
    project.run("agent-a", at(0), claim(Target::Story, "STORY-3", 10.0)).unwrap();
    project.run("agent-a", at(0), claim(Target::Story, "STORY-4", 30.0)).unwrap();
    project.next_for("agent-b", at(5));
    assert_eq!(project.meta.claims.len(), 2, "both leases still run");
    project.next_for("agent-b", at(10) + MS);
    let left: Vec<&String> = project.meta.claims.keys().collect();
    assert_eq!(left, ["story/STORY-4"]);
}

/// After a hand edit, the sidecar follows: a changed item gets its revision + 1 (a story's
/// change is not its sprint's), a new item starts at 1, both attributed to the edit at the
/// given time; a removed item is forgotten with its claim; an unchanged item keeps its rev.
#[test]
fn reconcile_follows_a_hand_edit() {
    let before: WorkIndex = serde_yaml_ng::from_str(PLAN).unwrap();
    let mut meta = Sidecar::default();
    meta.changed(&story("STORY-3"), "agent-a", at(0));
    meta.changed(&ItemKey::Backlog("b-low".into()), "agent-a", at(0));
    let claim = Claim { agent: "agent-a".into(), claimed_at: at(0), until: at(30) };
    meta.claims.insert("backlog/b-low".into(), claim);
    let edited = PLAN
        .replace("    notes: the plan\n", "    notes: the plan, edited by hand\n")
        .replace("- id: b-low\n  status: todo\n", "")
        .replace("- id: b-started\n", "- id: b-new\n  status: todo\n- id: b-started\n");
    let after: WorkIndex = serde_yaml_ng::from_str(&edited).unwrap();

    let events = reconcile(&before, &after, &mut meta, at(5));

    let b_new = ItemKey::Backlog("b-new".into());
    let b_low = ItemKey::Backlog("b-low".into());
    let expected = vec![
        Event::item(&story("STORY-3"), "updated", Some(3)),
        Event::item(&b_new, "created", Some(1)),
        Event::item(&b_low, "removed", None),
    ];
    assert_eq!(events, expected);
    let edited_story = meta.item(&story("STORY-3")).unwrap();
    assert_eq!(
        (edited_story.rev, edited_story.updated_by.as_str(), edited_story.updated_at),
        (3, EXTERNAL_EDIT, at(5))
    );
    assert_eq!(meta.rev(&ItemKey::Sprint("s1".into())), 1, "a story's change is not its sprint's");
    let created = meta.item(&b_new).unwrap();
    assert_eq!((created.rev, created.created_by.as_deref(), created.created_at), (1, Some(EXTERNAL_EDIT), Some(at(5))));
    assert!(meta.item(&b_low).is_none() && meta.claims.is_empty(), "a removed item is forgotten, its claim too");
    assert_eq!(meta.rev(&story("STORY-4")), 1);
    assert!(meta.item(&story("STORY-4")).is_none(), "an unchanged item gets no entry");
}

/// The done index answers every storage key as the index scan does: stories and backlog
/// items of any status, ids a story and a backlog item could share, sprints, unknown ids and
/// keys that are not storage keys.
#[test]
fn the_done_index_agrees_with_scanning_the_index() {
    let project = Project::new();
    let done = dependencies::DoneIndex::of(&project.index);
    let keys = [
        "story/STORY-1",
        "story/STORY-2",
        "story/STORY-5",
        "story/b-done",
        "backlog/b-done",
        "backlog/b-low",
        "backlog/b-started",
        "backlog/STORY-2",
        "sprint/s1",
        "story/nope",
        "backlog/",
        "story",
        "",
        "STORY-2",
        "epic/STORY-2",
    ];
    for key in keys {
        assert_eq!(done.is_done(key), dependencies::is_done(&project.index, key), "{key:?}");
    }
    let dependencies =
        ["story/STORY-2".to_string(), "story/STORY-3".into(), "backlog/b-low".into(), "sprint/s1".into()];
    assert_eq!(done.unfinished(&dependencies), dependencies::unfinished(&project.index, &dependencies));
}
