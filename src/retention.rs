//! Which backups to delete: a pure function from (backups, policy, now) to a
//! keep/delete decision with reasons for each, restic `forget` semantics.
//! Rules combine as a union; the newest backup is always kept; archives the
//! tool did not make are never deleted.

use jiff::civil::DateTime;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub keep_last: Option<u32>,
    /// A duration such as `30d`, `12h`, `2w`, `6m` (months), `1y`.
    pub keep_within: Option<String>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
}

impl Policy {
    /// True when no rule is set (nothing is deleted then).
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    /// Opaque id (the path), echoed in the decision.
    pub id: String,
    pub created: DateTime,
    /// False for files the tool did not make: always kept, never deleted.
    pub ours: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub id: String,
    pub created: DateTime,
    pub keep: bool,
    /// Every rule that keeps it (e.g. `last 3`, `daily 7`, `newest`), or why it goes.
    pub reasons: Vec<String>,
}

/// Decide for every candidate; output sorted newest first. An invalid
/// `keep_within` is an error naming it.
pub fn plan(_candidates: &[Candidate], _policy: &Policy, _now: DateTime) -> crate::Result<Vec<Decision>> {
    todo!("retention: plan")
}
