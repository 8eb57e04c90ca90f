//! Which backups to delete: a pure function from (backups, policy, now) to a
//! keep/delete decision with reasons for each, restic `forget` semantics.
//! Rules combine as a union; the newest backup is always kept; archives the
//! tool did not make are never deleted.
//!
//! Rules:
//! - Only candidates with `ours == true` and no `kept_because` count toward
//!   any rule; the others are always kept, with that reason (or "not made
//!   by BackupRepo").
//! - Order is newest first, ties broken by id, so the result does not depend
//!   on the order of the input.
//! - Bucket rules (daily/weekly/monthly N) keep the newest backup of each of
//!   the N most recent buckets that hold a backup; weeks are ISO weeks.

use std::cmp::Reverse;

use jiff::civil::DateTime;
use jiff::Span;

use crate::{Error, Result};

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub keep_last: Option<u32>,
    /// A duration such as `30d`, `12h`, `2w`, `6m` (months), `1y`, or a
    /// combination in that unit order (`1y6m`, `2w3d`).
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
    /// Set: always kept with this reason and counted by no rule (a backup
    /// whose source is unknown, made before 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_because: Option<String>,
}

impl Candidate {
    /// Whether the rules decide it (ours, and nothing pins it).
    fn counts(&self) -> bool {
        self.ours && self.kept_because.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub id: String,
    pub created: DateTime,
    pub keep: bool,
    /// Every rule that keeps it (e.g. `last 3`, `daily 7`, `newest`), or why it goes.
    pub reasons: Vec<String>,
}

/// Reason of a candidate the tool did not make.
pub const REASON_NOT_OURS: &str = "not made by BackupRepo";
/// Reason of the newest of ours (always kept).
pub const REASON_NEWEST: &str = "newest";
/// Reason of every backup when the policy is empty.
pub const REASON_NO_POLICY: &str = "no policy";
/// Reason of a backup that no rule keeps.
pub const REASON_DELETE: &str = "matched no keep rule";

/// Parse a `keep_within` value into a span: one or more `<n><unit>` with
/// units `y` (years), `m` (months), `w` (weeks), `d` (days), `h` (hours),
/// each at most once and in that order.
pub fn parse_within(value: &str) -> Result<Span> {
    let bad = |why: &str| {
        Error::invalid(format!(
            "keep_within: invalid duration '{value}' ({why}); use e.g. 30d, 12h, 2w, 6m (months), 1y or 1y6m"
        ))
    };
    const UNITS: [char; 5] = ['y', 'm', 'w', 'd', 'h'];
    let mut span = Span::new();
    let mut rest = value;
    let mut next_unit = 0; // index into UNITS of the smallest unit still allowed
    if rest.is_empty() {
        return Err(bad("empty"));
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("expected a number"));
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad("number too large"))?;
        let unit = rest[digits..].chars().next().ok_or_else(|| bad("missing unit after the number"))?;
        let pos = UNITS.iter().position(|&u| u == unit).ok_or_else(|| bad("unknown unit"))?;
        if pos < next_unit {
            return Err(bad("units repeated or out of order"));
        }
        next_unit = pos + 1;
        span = match unit {
            'y' => span.try_years(n),
            'm' => span.try_months(n),
            'w' => span.try_weeks(n),
            'd' => span.try_days(n),
            _ => span.try_hours(n),
        }
        .map_err(|_| bad("number too large"))?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Ok(span)
}

/// Keys of the calendar buckets.
fn day_key(t: DateTime) -> (i32, i32, i32) {
    (t.year().into(), t.month().into(), t.day().into())
}
fn week_key(t: DateTime) -> (i32, i32, i32) {
    let w = t.iso_week_date();
    (w.year().into(), w.week().into(), 0)
}
fn month_key(t: DateTime) -> (i32, i32, i32) {
    (t.year().into(), t.month().into(), 0)
}

/// Mark in `keep` the newest backup of each of the `n` most recent buckets;
/// `ours` is sorted newest first.
fn keep_buckets(
    ours: &[&Candidate],
    n: u32,
    key: fn(DateTime) -> (i32, i32, i32),
    reason: &str,
    reasons: &mut [Vec<String>],
) {
    let mut last = None;
    let mut left = n;
    for (i, c) in ours.iter().enumerate() {
        if left == 0 {
            break;
        }
        let k = key(c.created);
        if last != Some(k) {
            last = Some(k);
            left -= 1;
            reasons[i].push(reason.to_string());
        }
    }
}

/// Decide for every candidate; output sorted newest first. An invalid
/// `keep_within` is an error naming it.
pub fn plan(candidates: &[Candidate], policy: &Policy, now: DateTime) -> Result<Vec<Decision>> {
    let within = policy.keep_within.as_deref().map(|v| parse_within(v).map(|s| (v, s))).transpose()?;
    // Everything created at or after the cutoff is "within"; a span reaching
    // past the calendar's start keeps everything.
    let cutoff = within.as_ref().map(|(v, s)| (*v, now.checked_sub(*s).unwrap_or(DateTime::MIN)));

    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by(|a, b| (Reverse(a.created), &a.id, a.ours).cmp(&(Reverse(b.created), &b.id, b.ours)));
    let ours: Vec<&Candidate> = sorted.iter().copied().filter(|c| c.counts()).collect();

    // Reasons for each of ours, in the fixed rule order.
    let mut reasons: Vec<Vec<String>> = vec![Vec::new(); ours.len()];
    if policy.is_empty() {
        for r in reasons.iter_mut() {
            r.push(REASON_NO_POLICY.to_string());
        }
    }
    if let Some(n) = policy.keep_last {
        for r in reasons.iter_mut().take(n as usize) {
            r.push(format!("last {n}"));
        }
    }
    if let Some((value, cutoff)) = cutoff {
        for (c, r) in ours.iter().zip(reasons.iter_mut()) {
            if c.created >= cutoff {
                r.push(format!("within {value}"));
            }
        }
    }
    if let Some(n) = policy.keep_daily {
        keep_buckets(&ours, n, day_key, &format!("daily {n}"), &mut reasons);
    }
    if let Some(n) = policy.keep_weekly {
        keep_buckets(&ours, n, week_key, &format!("weekly {n}"), &mut reasons);
    }
    if let Some(n) = policy.keep_monthly {
        keep_buckets(&ours, n, month_key, &format!("monthly {n}"), &mut reasons);
    }
    if let Some(first) = reasons.first_mut() {
        first.push(REASON_NEWEST.to_string());
    }

    let mut reasons = reasons.into_iter();
    Ok(sorted
        .into_iter()
        .map(|c| {
            let (keep, reasons) = if c.counts() {
                let r = reasons.next().unwrap_or_default();
                if r.is_empty() {
                    (false, vec![REASON_DELETE.to_string()])
                } else {
                    (true, r)
                }
            } else {
                (true, vec![c.kept_because.clone().unwrap_or_else(|| REASON_NOT_OURS.to_string())])
            };
            Decision { id: c.id.clone(), created: c.created, keep, reasons }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;
    use rstest::rstest;
    use std::collections::BTreeSet;

    fn now() -> DateTime {
        date(2024, 6, 15).at(12, 0, 0, 0)
    }

    fn c(id: &str, t: DateTime) -> Candidate {
        Candidate { id: id.to_string(), created: t, ours: true, kept_because: None }
    }

    /// One backup a day at 10:00 and 22:00 for `days` days before 2024-06-15.
    fn twice_daily(days: i64) -> Vec<Candidate> {
        let mut out = Vec::new();
        for d in 0..days {
            let day = date(2024, 6, 15).checked_sub(Span::new().days(d)).unwrap();
            out.push(c(&format!("{day}-10"), day.at(10, 0, 0, 0)));
            if d > 0 {
                out.push(c(&format!("{day}-22"), day.at(22, 0, 0, 0)));
            }
        }
        out
    }

    fn kept(ds: &[Decision]) -> Vec<&str> {
        ds.iter().filter(|d| d.keep).map(|d| d.id.as_str()).collect()
    }

    #[rstest]
    #[case("30d", Span::new().days(30))]
    #[case("12h", Span::new().hours(12))]
    #[case("2w", Span::new().weeks(2))]
    #[case("6m", Span::new().months(6))]
    #[case("1y", Span::new().years(1))]
    #[case("1y6m", Span::new().years(1).months(6))]
    #[case("2w3d12h", Span::new().weeks(2).days(3).hours(12))]
    #[case("0d", Span::new())]
    fn within_parses(#[case] value: &str, #[case] want: Span) {
        assert_eq!(parse_within(value).unwrap().fieldwise(), want.fieldwise());
    }

    #[rstest]
    #[case("")]
    #[case("30")]
    #[case("d")]
    #[case("30x")]
    #[case("30D")]
    #[case("-3d")]
    #[case("3 d")]
    #[case("6m1y")]
    #[case("1d1d")]
    #[case("99999999999999999999d")]
    #[case("99999999y")]
    #[case("1.5d")]
    fn within_rejects(#[case] value: &str) {
        let err = plan(&[], &Policy { keep_within: Some(value.into()), ..Policy::default() }, now()).unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::InvalidArgument);
        assert!(err.message.contains("keep_within"), "{}", err.message);
        assert!(err.message.contains(&format!("'{value}'")), "{}", err.message);
    }

    #[test]
    fn empty_policy_keeps_everything() {
        let ds = plan(&twice_daily(3), &Policy::default(), now()).unwrap();
        assert_eq!(ds.len(), 5);
        assert!(ds.iter().all(|d| d.keep && d.reasons.contains(&REASON_NO_POLICY.to_string())));
        assert_eq!(ds[0].reasons, vec!["no policy", "newest"]);
    }

    #[test]
    fn empty_input_is_empty_output() {
        let p = Policy { keep_last: Some(1), ..Policy::default() };
        assert!(plan(&[], &p, now()).unwrap().is_empty());
    }

    #[rstest]
    #[case::last_3(Policy { keep_last: Some(3), ..Policy::default() },
        &["2024-06-15-10", "2024-06-14-22", "2024-06-14-10"])]
    #[case::last_0_still_keeps_newest(Policy { keep_last: Some(0), ..Policy::default() }, &["2024-06-15-10"])]
    #[case::within_1d(Policy { keep_within: Some("1d".into()), ..Policy::default() },
        &["2024-06-15-10", "2024-06-14-22"])]
    #[case::within_12h(Policy { keep_within: Some("12h".into()), ..Policy::default() }, &["2024-06-15-10"])]
    #[case::daily_3(Policy { keep_daily: Some(3), ..Policy::default() },
        &["2024-06-15-10", "2024-06-14-22", "2024-06-13-22"])]
    // 2024-06-15 is a Saturday: ISO weeks start 06-10, 06-03, 05-27.
    #[case::weekly_3(Policy { keep_weekly: Some(3), ..Policy::default() },
        &["2024-06-15-10", "2024-06-09-22", "2024-06-02-22"])]
    #[case::monthly_2(Policy { keep_monthly: Some(2), ..Policy::default() },
        &["2024-06-15-10", "2024-05-31-22"])]
    #[case::union(Policy { keep_last: Some(1), keep_daily: Some(2), keep_monthly: Some(2), ..Policy::default() },
        &["2024-06-15-10", "2024-06-14-22", "2024-05-31-22"])]
    fn rules_keep(#[case] policy: Policy, #[case] want: &[&str]) {
        let ds = plan(&twice_daily(40), &policy, now()).unwrap();
        assert_eq!(kept(&ds), want);
        for d in ds.iter().filter(|d| !d.keep) {
            assert_eq!(d.reasons, vec![REASON_DELETE]);
        }
    }

    #[test]
    fn reasons_list_every_rule() {
        let p = Policy {
            keep_last: Some(3),
            keep_within: Some("30d".into()),
            keep_daily: Some(7),
            keep_weekly: Some(4),
            keep_monthly: Some(12),
        };
        let ds = plan(&twice_daily(40), &p, now()).unwrap();
        assert_eq!(ds[0].reasons, vec!["last 3", "within 30d", "daily 7", "weekly 4", "monthly 12", "newest"]);
        assert_eq!(ds[1].reasons, vec!["last 3", "within 30d", "daily 7"]);
        assert_eq!(ds[2].reasons, vec!["last 3", "within 30d"]);
    }

    #[test]
    fn not_ours_is_kept_and_does_not_count() {
        let mut cs = twice_daily(3);
        let newest = date(2024, 6, 15).at(11, 0, 0, 0);
        cs.push(Candidate { id: "foreign".into(), created: newest, ours: false, kept_because: None });
        let ds = plan(&cs, &Policy { keep_last: Some(1), ..Policy::default() }, now()).unwrap();
        assert_eq!(ds[0].id, "foreign");
        assert_eq!(ds[0].reasons, vec![REASON_NOT_OURS]);
        assert_eq!(ds[1].reasons, vec!["last 1", "newest"]);
        assert_eq!(kept(&ds), vec!["foreign", "2024-06-15-10"]);
    }

    #[test]
    fn future_backups_count_as_within() {
        let cs = vec![c("future", date(2024, 7, 1).at(0, 0, 0, 0)), c("old", date(2020, 1, 1).at(0, 0, 0, 0))];
        let ds = plan(&cs, &Policy { keep_within: Some("1d".into()), ..Policy::default() }, now()).unwrap();
        assert_eq!(kept(&ds), vec!["future"]);
    }

    #[test]
    fn huge_within_keeps_everything() {
        let cs = vec![c("a", DateTime::MIN), c("b", now())];
        let ds = plan(&cs, &Policy { keep_within: Some("19000y".into()), ..Policy::default() }, now()).unwrap();
        assert_eq!(kept(&ds), vec!["b", "a"]);
    }

    #[test]
    fn ties_are_ordered_by_id() {
        let t = now();
        let ds = plan(&[c("b", t), c("a", t), c("c", t)], &Policy { keep_last: Some(1), ..Policy::default() }, now())
            .unwrap();
        assert_eq!(ds.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), vec!["a", "b", "c"]);
        assert_eq!(kept(&ds), vec!["a"]);
    }

    // ---- properties ----

    fn any_candidates() -> impl Strategy<Value = Vec<Candidate>> {
        // ~3 years of minutes, so buckets collide and differ.
        proptest::collection::vec((0i64..1_500_000, any::<bool>(), 0u8..4), 0..40).prop_map(|v| {
            let base = date(2022, 1, 1).at(0, 0, 0, 0);
            v.into_iter()
                .enumerate()
                .map(|(i, (mins, ours_bit, _))| Candidate {
                    id: format!("id{i:03}"),
                    created: base.checked_add(Span::new().minutes(mins)).unwrap(),
                    ours: ours_bit || i % 3 != 0,
                    kept_because: None,
                })
                .collect()
        })
    }

    fn any_policy() -> impl Strategy<Value = Policy> {
        let n = proptest::option::of(0u32..10);
        let within = proptest::option::of(prop_oneof![
            (0u32..400).prop_map(|n| format!("{n}d")),
            (0u32..48).prop_map(|n| format!("{n}h")),
            (0u32..30).prop_map(|n| format!("{n}w")),
            (0u32..30).prop_map(|n| format!("{n}m")),
            (0u32..3).prop_map(|n| format!("{n}y")),
            (0u32..3, 0u32..12).prop_map(|(y, m)| format!("{y}y{m}m")),
        ]);
        (n.clone(), within, n.clone(), n.clone(), n).prop_map(
            |(keep_last, keep_within, keep_daily, keep_weekly, keep_monthly)| Policy {
                keep_last,
                keep_within,
                keep_daily,
                keep_weekly,
                keep_monthly,
            },
        )
    }

    fn any_now() -> impl Strategy<Value = DateTime> {
        (0i64..1_600_000).prop_map(|m| date(2022, 1, 1).at(0, 0, 0, 0).checked_add(Span::new().minutes(m)).unwrap())
    }

    fn kept_set(ds: &[Decision]) -> BTreeSet<String> {
        ds.iter().filter(|d| d.keep).map(|d| d.id.clone()).collect()
    }

    fn newest_ours(cs: &[Candidate]) -> Option<&Candidate> {
        cs.iter().filter(|c| c.ours).min_by(|a, b| (Reverse(a.created), &a.id).cmp(&(Reverse(b.created), &b.id)))
    }

    proptest! {
        #[test]
        fn never_deletes_newest_or_foreign(cs in any_candidates(), p in any_policy(), now in any_now()) {
            let ds = plan(&cs, &p, now).unwrap();
            prop_assert_eq!(ds.len(), cs.len());
            if let Some(n) = newest_ours(&cs) {
                let d = ds.iter().find(|d| d.id == n.id).unwrap();
                prop_assert!(d.keep && d.reasons.contains(&REASON_NEWEST.to_string()));
            }
            for d in &ds {
                let c = cs.iter().find(|c| c.id == d.id).unwrap();
                if !c.ours {
                    prop_assert!(d.keep);
                    prop_assert_eq!(&d.reasons, &vec![REASON_NOT_OURS.to_string()]);
                }
                prop_assert!(!d.reasons.is_empty());
            }
        }

        #[test]
        fn sorted_newest_first(cs in any_candidates(), p in any_policy(), now in any_now()) {
            let ds = plan(&cs, &p, now).unwrap();
            prop_assert!(ds.windows(2).all(|w| (Reverse(w[0].created), &w[0].id) <= (Reverse(w[1].created), &w[1].id)));
        }

        #[test]
        fn kept_is_union_of_single_rules(cs in any_candidates(), p in any_policy(), now in any_now()) {
            let all = kept_set(&plan(&cs, &p, now).unwrap());
            let singles = [
                Policy { keep_last: p.keep_last, ..Policy::default() },
                Policy { keep_within: p.keep_within.clone(), ..Policy::default() },
                Policy { keep_daily: p.keep_daily, ..Policy::default() },
                Policy { keep_weekly: p.keep_weekly, ..Policy::default() },
                Policy { keep_monthly: p.keep_monthly, ..Policy::default() },
            ];
            let mut union: BTreeSet<String> = cs.iter().filter(|c| !c.ours).map(|c| c.id.clone()).collect();
            union.extend(newest_ours(&cs).map(|c| c.id.clone()));
            if p.is_empty() {
                union.extend(cs.iter().map(|c| c.id.clone()));
            }
            for s in singles.iter().filter(|s| !s.is_empty()) {
                union.extend(kept_set(&plan(&cs, s, now).unwrap()));
            }
            prop_assert_eq!(all, union);
        }

        #[test]
        fn independent_of_input_order(cs in any_candidates(), p in any_policy(), now in any_now(), seed in any::<u64>()) {
            let mut shuffled = cs.clone();
            // A cheap deterministic shuffle.
            let mut s = seed | 1;
            for i in (1..shuffled.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                shuffled.swap(i, (s % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(plan(&cs, &p, now).unwrap(), plan(&shuffled, &p, now).unwrap());
        }

        #[test]
        fn keep_last_keeps_exactly_n(cs in any_candidates(), n in 0u32..50, now in any_now()) {
            let ds = plan(&cs, &Policy { keep_last: Some(n), ..Policy::default() }, now).unwrap();
            let ours = cs.iter().filter(|c| c.ours).count();
            let kept_ours = ds.iter().filter(|d| d.keep && d.reasons != vec![REASON_NOT_OURS.to_string()]).count();
            let want = if ours == 0 { 0 } else { (n as usize).clamp(1, ours) };
            prop_assert_eq!(kept_ours, want);
        }

        #[test]
        fn bucket_rules_keep_at_most_n_plus_newest(cs in any_candidates(), n in 0u32..10, now in any_now()) {
            for p in [
                Policy { keep_daily: Some(n), ..Policy::default() },
                Policy { keep_weekly: Some(n), ..Policy::default() },
                Policy { keep_monthly: Some(n), ..Policy::default() },
            ] {
                let ds = plan(&cs, &p, now).unwrap();
                let kept_ours = ds.iter().filter(|d| d.keep && d.reasons != vec![REASON_NOT_OURS.to_string()]).count();
                prop_assert!(kept_ours <= (n as usize).max(1));
            }
        }

        #[test]
        fn within_keeps_exactly_the_recent(cs in any_candidates(), days in 0i64..400, now in any_now()) {
            let p = Policy { keep_within: Some(format!("{days}d")), ..Policy::default() };
            let ds = plan(&cs, &p, now).unwrap();
            let cutoff = now.checked_sub(Span::new().days(days)).unwrap();
            for d in ds.iter() {
                let c = cs.iter().find(|c| c.id == d.id).unwrap();
                if c.ours && c.created >= cutoff {
                    prop_assert!(d.keep);
                    let want = format!("within {days}d");
                    prop_assert!(d.reasons.contains(&want));
                }
            }
        }
    }
}
