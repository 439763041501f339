//! Coordination tools: claim and release work, and ask for the next work to do.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::WorkSyncServer;

use super::{reply, wire};
use crate::store::changes::MAX_WAIT;
use crate::store::{Operation, Target};

/// How often a waiting `worksync_changes` call tells a client that asked for progress that
/// it is still waiting.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Arguments of `worksync_claim`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct ClaimParams {
    pub project: String,
    #[schemars(transform = super::schema::undescribed)]
    pub kind: Target,
    pub id: String,
    /// Lease in minutes (default 30 unless configured).
    #[serde(default)]
    pub lease_minutes: Option<f64>,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
    /// Override a block or another agent's claim (recorded).
    #[serde(default)]
    pub force: bool,
}

/// Arguments of `worksync_depend`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct DependParams {
    pub project: String,
    pub id: String,
    /// Only if a story and a backlog item share the id.
    #[serde(default)]
    pub kind: Option<Target>,
    /// Ids it must wait for ('story/ID' or 'backlog/ID' if ambiguous).
    #[serde(default)]
    pub add: Vec<String>,
    /// Ids it stops waiting for.
    #[serde(default)]
    pub remove: Vec<String>,
    /// The rev you read; if it changed, refused with the current item.
    #[serde(default)]
    pub expected_rev: Option<u64>,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
}

/// Arguments of `worksync_release`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct ReleaseParams {
    pub project: String,
    #[schemars(transform = super::schema::undescribed)]
    pub kind: Target,
    pub id: String,
    /// Release another agent's claim (recorded).
    #[serde(default)]
    pub force: bool,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
}

/// Arguments of `worksync_next`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct NextParams {
    pub project: String,
    /// Also claim it, in the same step.
    #[serde(default)]
    pub claim: bool,
    /// Lease in minutes (default 30 unless configured).
    #[serde(default)]
    pub lease_minutes: Option<f64>,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
}

/// Arguments of `worksync_changes`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct ChangesParams {
    /// Omit for every project.
    #[serde(default)]
    pub project: Option<String>,
    /// Your last cursor; omit to get the current one only.
    #[serde(default)]
    pub since: Option<String>,
    /// If nothing changed, wait up to this many seconds for a change (max 25).
    #[serde(default)]
    pub wait_seconds: Option<f64>,
    /// Default 100, max 1000; `more` says if there are more.
    #[serde(default)]
    pub limit: Option<usize>,
}

#[tool_router(router = coordination_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// Claim a story or backlog item for a lease (claim again to renew) so others leave it to
    /// you; sets it in_progress. If held or blocked: refused, naming the holder or blockers.
    #[tool(name = "worksync_claim")]
    async fn claim(
        &self,
        Parameters(p): Parameters<ClaimParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        if let Some(claimer) = self.sharing.claimer(&p.project) {
            let agent = reply::agent_of(p.agent, &context);
            return Ok(shared(claimer.claim(p.kind, &p.id, p.lease_minutes, p.force, &agent).await));
        }
        let operation = Operation::Claim { target: p.kind, id: p.id, lease_minutes: p.lease_minutes, force: p.force };
        self.mutate(&p.project, operation, p.agent, &context).await
    }

    /// Release your claim on a story or backlog item (its status stays).
    #[tool(name = "worksync_release")]
    async fn release(
        &self,
        Parameters(p): Parameters<ReleaseParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        if let Some(claimer) = self.sharing.claimer(&p.project) {
            let agent = reply::agent_of(p.agent, &context);
            return Ok(shared(claimer.release(p.kind, &p.id, p.force, &agent).await));
        }
        let operation = Operation::Release { target: p.kind, id: p.id, force: p.force };
        self.mutate(&p.project, operation, p.agent, &context).await
    }

    /// The next ready work (not done, unclaimed, dependencies done): planned stories of
    /// active sprints, then todo backlog; by priority, what waits on it, age. Says why and
    /// what it unblocks; claim=true claims it too.
    #[tool(name = "worksync_next")]
    async fn next(
        &self,
        Parameters(p): Parameters<NextParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        if p.claim
            && let Some(claimer) = self.sharing.claimer(&p.project)
        {
            let agent = reply::agent_of(p.agent, &context);
            return Ok(shared(claimer.next(p.lease_minutes, &agent).await));
        }
        let operation = Operation::Next { claim: p.claim, lease_minutes: p.lease_minutes, spread: 0 };
        self.mutate(&p.project, operation, p.agent, &context).await
    }

    /// Change what a story or backlog item waits for; until those are done it is blocked (not
    /// offered by worksync_next, not claimable without force). Refuses cycles.
    #[tool(name = "worksync_depend", annotations(idempotent_hint = true))]
    async fn depend(
        &self,
        Parameters(p): Parameters<DependParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let guard = crate::store::Guard { expected_rev: p.expected_rev, force: false };
        let operation = Operation::Depend { target: p.kind, id: p.id, add: p.add, remove: p.remove, guard };
        self.mutate(&p.project, operation, p.agent, &context).await
    }

    /// Changes since your cursor (item, action, agent, time, rev), oldest first, and the next
    /// cursor; wait_seconds long-polls. On resync=true re-read worksync_status, then use the
    /// new cursor.
    #[tool(name = "worksync_changes", annotations(read_only_hint = true))]
    async fn changes(
        &self,
        Parameters(p): Parameters<ChangesParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let (wait, note) = capped_wait(p.wait_seconds);
        let limit = p.limit.unwrap_or(100).clamp(1, 1000);
        let query = self.store.changes(p.project.as_deref(), p.since.as_deref(), limit, wait);
        tokio::pin!(query);
        // A client that asked for progress hears from a waiting call every few seconds, so
        // that it does not give up on a call that is only waiting (Claude Code aborts an HTTP
        // call after 5 minutes without progress).
        let token = context.meta.get_progress_token();
        let started = tokio::time::Instant::now();
        let mut beats = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
        let answer = loop {
            tokio::select! {
                answer = &mut query => break answer,
                _ = context.ct.cancelled() => return Ok(reply::success(wire::cancelled())),
                _ = beats.tick(), if token.is_some() => {
                    let waited = started.elapsed().as_secs_f64().round();
                    let progress = ProgressNotificationParam::new(token.clone().expect("checked"), waited)
                        .with_total(wait.as_secs_f64().round())
                        .with_message(format!("no change yet; waited {waited} s"));
                    if let Err(e) = context.peer.notify_progress(progress).await {
                        tracing::debug!(error = %e, "could not send a progress notification");
                    }
                }
            }
        };
        Ok(reply::from_store(answer.map(|changes| wire::changes(changes, note))))
    }
}

/// The answer of a claim, release or `next(claim)` in a shared project: the usual answer, and
/// `remote_claim` saying whether the claim holds on every machine.
fn shared(result: Result<crate::share::coordination::SharedClaim, crate::store::StoreError>) -> CallToolResult {
    reply::from_store(result.map(|claimed| {
        let mut answer = wire::done(&claimed.done);
        answer["remote_claim"] = serde_json::json!(claimed.remote);
        answer
    }))
}

/// The wait a `worksync_changes` call gets: `wait_seconds` within 0 to 25 s, and a note for the
/// agent when what it asked for was not what it gets (it would otherwise wonder why an empty
/// answer came back before its wait was over).
fn capped_wait(asked: Option<f64>) -> (std::time::Duration, Option<String>) {
    let cap = MAX_WAIT.as_secs_f64();
    match asked {
        None => (std::time::Duration::ZERO, None),
        Some(w) if w.is_finite() && (0.0..=cap).contains(&w) => (std::time::Duration::from_secs_f64(w), None),
        Some(w) if w > cap => (
            MAX_WAIT,
            Some(format!(
                "wait_seconds {w} is above the cap of {cap}: a call waits {cap} s at most. To wait longer, call again with the cursor."
            )),
        ),
        Some(w) => (
            std::time::Duration::ZERO,
            Some(format!("wait_seconds {w} is not between 0 and {cap}: answered without waiting.")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits within the cap are kept as they are; above it they are capped with a note; a
    /// negative or non-finite wait does not wait, with a note.
    #[test]
    fn waits_are_capped_with_a_note() {
        assert_eq!(capped_wait(None), (std::time::Duration::ZERO, None));
        assert_eq!(capped_wait(Some(2.5)), (std::time::Duration::from_millis(2500), None));
        assert_eq!(capped_wait(Some(25.0)), (MAX_WAIT, None));
        let (wait, note) = capped_wait(Some(600.0));
        assert_eq!(wait, MAX_WAIT);
        assert!(note.unwrap().contains("600"));
        for odd in [-1.0, f64::NAN, f64::NEG_INFINITY] {
            let (wait, note) = capped_wait(Some(odd));
            assert_eq!(wait, std::time::Duration::ZERO);
            assert!(note.is_some(), "{odd}");
        }
    }
}
