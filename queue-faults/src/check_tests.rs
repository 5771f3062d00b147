//! Tests of the history checks in `check.rs`.

use super::*;

/// Builds a history from `start id attempt pid ms`-style lines with times in milliseconds.
fn history(lines: &[&str]) -> Vec<Event> {
    lines
        .iter()
        .map(|line| {
            let mut fields: Vec<String> = line.split(' ').map(String::from).collect();
            let time = match fields[0].as_str() {
                "ready" | "exit" => 2,
                "start" | "end" => 4,
                other => panic!("no such event {other}"),
            };
            let ms: u64 = fields[time].parse().unwrap();
            fields[time] = (1_000_000_000 + ms * 1000).to_string();
            Event::parse(&fields.join(" ")).unwrap()
        })
        .collect()
}

fn messages(report: &Report) -> String {
    report.to_string()
}

#[test]
fn a_clean_history_passes() {
    let events = history(&[
        "ready 1 0",
        "start a 1 1 10",
        "start b 1 1 11",
        "end a 1 1 20 ok",
        "end b 1 1 21 error",
        "start b 2 1 30",
        "end b 2 1 40 ok",
    ]);
    let report = check(&events, &Expectations::new(["a", "b"]));
    report.assert_clean();
    assert_eq!(report.runs().len(), 3);
    assert_eq!(report.runs_of("b").count(), 2);
    assert!(report.to_string().contains("3 runs of 2 jobs"));
}

#[test]
fn a_job_that_never_completed_is_lost() {
    let events = history(&[
        "start a 1 1 10",
        "end a 1 1 20 error",
        "start a 2 1 30",
        "end a 2 1 40 cancelled",
    ]);
    let report = check(&events, &Expectations::new(["a", "b"]));
    assert_eq!(report.kinds(), BTreeSet::from([Kind::Lost]));
    assert_eq!(report.problems().len(), 2);
    let text = messages(&report);
    assert!(text.contains("job a was lost"), "{text}");
    assert!(
        text.contains("attempt 2 in pid 1 [+0.020000s .. +0.030000s] cancelled"),
        "{text}"
    );
    assert!(
        text.contains("job b was lost") && text.contains("it never ran"),
        "{text}"
    );
}

#[test]
fn unfinished_jobs_may_stay_incomplete() {
    let events = history(&["start p 1 1 10", "exit 1 12"]);
    check(&events, &Expectations::new(["p"]).unfinished(["p"])).assert_clean();
}

#[test]
fn a_repeat_is_allowed_only_for_a_job_in_flight_at_a_fault() {
    let events = history(&[
        "start a 1 1 10",
        "end a 1 1 20 ok",
        "exit 1 25",
        "start a 2 2 40",
        "end a 2 2 50 ok",
    ]);
    let strict = check(&events, &Expectations::new(["a"]));
    assert_eq!(strict.kinds(), BTreeSet::from([Kind::Repeated]));
    let text = messages(&strict);
    assert!(
        text.contains("job a completed 2 times but was not in flight"),
        "{text}"
    );
    check(&events, &Expectations::new(["a"]).in_flight(["a"])).assert_clean();
}

#[test]
fn a_run_after_the_job_was_seen_done_is_rejected_even_in_flight() {
    let events = history(&[
        "start a 1 1 10",
        "end a 1 1 20 ok",
        "start a 2 2 40",
        "end a 2 2 50 cancelled",
    ]);
    let seen = 1_000_000_000 + 30_000;
    let report = check(
        &events,
        &Expectations::new(["a"])
            .in_flight(["a"])
            .seen_done("a", seen),
    );
    assert_eq!(report.kinds(), BTreeSet::from([Kind::RanAfterDone]));
    let text = messages(&report);
    assert!(
        text.contains("seen done at +0.020000s but ran again: attempt 2 in pid 2"),
        "{text}"
    );
    // Seen done after the second run started: nothing ran after it.
    check(
        &events,
        &Expectations::new(["a"]).seen_done("a", seen + 20_000),
    )
    .assert_clean();
}

#[test]
fn overlapping_runs_beyond_the_bound_are_rejected() {
    let events = history(&[
        "start a 1 1 0",
        "start a 1 2 100",
        "end a 1 2 200 ok",
        "end a 1 1 130 cancelled",
    ]);
    let report = check(&events, &Expectations::new(["a"]));
    assert_eq!(report.kinds(), BTreeSet::from([Kind::Overlap]));
    let text = messages(&report);
    assert!(
        text.contains("job a ran twice at once, overlapping by 30.000 ms (bound 0.000 ms)"),
        "{text}"
    );
    assert!(
        text.contains("pid 1 [+0.000000s .. +0.130000s] cancelled"),
        "{text}"
    );
    check(
        &events,
        &Expectations::new(["a"]).overlap_bound(Duration::from_millis(30)),
    )
    .assert_clean();
    let report = check(
        &events,
        &Expectations::new(["a"]).overlap_bound(Duration::from_millis(29)),
    );
    assert_eq!(report.kinds(), BTreeSet::from([Kind::Overlap]));
}

#[test]
fn runs_that_touch_do_not_overlap() {
    let events = history(&[
        "start a 1 1 0",
        "end a 1 1 100 cancelled",
        "start a 2 2 100",
        "end a 2 2 150 ok",
    ]);
    check(&events, &Expectations::new(["a"])).assert_clean();
}

#[test]
fn a_dead_process_ends_its_open_runs_at_its_exit() {
    let events = history(&[
        "start a 1 1 0",
        "start b 1 1 0",
        "start c 1 3 0",
        "exit 1 100",
        "start a 2 2 50",
        "end a 2 2 60 ok",
        "start b 2 2 100",
        "end b 2 2 110 ok",
        "end c 1 3 5 ok",
    ]);
    let report = check(
        &events,
        &Expectations::new(["a", "b", "c"]).in_flight(["a", "b"]),
    );
    // a's second run began while pid 1 still lived; b's began as it was seen dead.
    assert_eq!(report.kinds(), BTreeSet::from([Kind::Overlap]));
    assert_eq!(report.problems().len(), 1);
    assert_eq!(report.problems()[0].id.as_deref(), Some("a"));
    let died: Vec<&Run> = report
        .runs()
        .iter()
        .filter(|r| r.ending == Ending::Died)
        .collect();
    assert_eq!(died.len(), 2);
    assert!(died
        .iter()
        .all(|r| r.pid == 1 && r.end == 1_000_000_000 + 100_000));
    assert!(messages(&report).contains("process died"));
}

#[test]
fn a_run_that_never_ends_is_malformed_and_overlaps_every_later_run() {
    let events = history(&["start a 1 1 0", "start a 2 2 50", "end a 2 2 60 ok"]);
    let report = check(&events, &Expectations::new(["a"]));
    assert_eq!(
        report.kinds(),
        BTreeSet::from([Kind::Malformed, Kind::Overlap])
    );
    let text = messages(&report);
    assert!(text.contains("job a never ended"), "{text}");
    assert!(text.contains("still running"), "{text}");
    let events = history(&["start a 1 1 0", "start a 2 2 50"]);
    let text = messages(&check(&events, &Expectations::new(["a"]).unfinished(["a"])));
    assert!(text.contains("overlapping for good"), "{text}");
}

#[test]
fn events_that_do_not_pair_are_malformed() {
    let events = history(&[
        "end a 1 1 10 ok",
        "start b 1 1 10",
        "start b 1 1 20",
        "end b 1 1 30 ok",
        "start c 1 1 40",
        "end c 2 1 50 ok",
    ]);
    let report = check(&events, &Expectations::new(["a", "b", "c"]));
    let malformed: Vec<&Problem> = report
        .problems()
        .iter()
        .filter(|p| p.kind == Kind::Malformed)
        .collect();
    assert_eq!(malformed.len(), 3, "{report}");
    let text = messages(&report);
    assert!(
        text.contains("job a ended (ok) in pid 1 at +0.000000s without a start"),
        "{text}"
    );
    assert!(
        text.contains("job b started at +0.010000s in pid 1 while its run"),
        "{text}"
    );
    assert!(text.contains("job c ended attempt 2 in pid 1"), "{text}");
    // a never had a run, so it is lost as well.
    assert!(report.kinds().contains(&Kind::Lost));
}

#[test]
fn a_job_never_dispatched_is_unknown_unless_its_dispatch_was_in_doubt() {
    let events = history(&["start x 1 1 0", "end x 1 1 5 ok"]);
    let report = check(&events, &Expectations::new(Vec::<String>::new()));
    assert_eq!(report.kinds(), BTreeSet::from([Kind::Unknown]));
    assert!(messages(&report).contains("job x ran but was never dispatched"));
    check(
        &events,
        &Expectations::new(Vec::<String>::new()).maybe_dispatched(["x"]),
    )
    .assert_clean();
    // A job in doubt need not run either.
    check(
        &[],
        &Expectations::new(Vec::<String>::new()).maybe_dispatched(["x"]),
    )
    .assert_clean();
}

#[test]
#[should_panic(expected = "job a was lost")]
fn assert_clean_panics_with_the_findings() {
    check(&[], &Expectations::new(["a"])).assert_clean();
}
