//! The conformance cases; each takes a fresh driver and panics on a broken promise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::cancel::{
    a_cancelled_job_holds_no_unique_key,
    a_cancelled_job_retried_from_failed_is_no_longer_cancelled,
    a_cancelled_job_retried_then_deleted_holds_its_id_and_key,
    a_job_cancelled_while_it_ran_then_purged_holds_its_id_and_key,
    a_job_deleted_while_it_runs_holds_its_id_until_its_lease_ends, cancel_removes_a_waiting_job,
    cancel_stops_a_running_job,
};
use super::errors::{
    error_history_keeps_the_last_ten, error_history_records_every_failed_attempt,
    error_history_records_lost_leases, error_history_survives_a_retry_from_failed,
};
use super::event_log::{
    event_log_blocking_read_wakes_on_append, event_log_is_capped, event_log_reads_in_append_order,
    event_log_resumes_after_the_last_read, event_logs_are_per_queue,
};
use super::flows::{
    a_reopened_steps_earlier_run_cannot_end_it,
    batch_callback_on_complete_runs_and_on_success_is_skipped,
    batch_callback_on_success_runs_when_all_succeed,
    depend_cancelled_prerequisite_counts_as_failed, depend_failure_skips_dependents_by_default,
    depend_ignore_failure_runs_the_dependent, queued_steps_are_released_and_not_ended,
    workflow_building_runs_nothing_until_started, workflow_delete_removes_steps_and_their_jobs,
    workflow_fan_out_joins_children_into_dependents,
    workflow_recovery_hands_over_what_a_dead_caller_left,
    workflow_rejects_bad_input_storing_nothing, workflow_releases_dependent_in_the_ending_step,
    workflow_retry_releases_dependents_of_a_retried_step, workflow_runs_steps_in_dependency_order,
};
use super::keyed::{
    a_flooded_key_does_not_delay_another,
    a_job_dispatched_again_under_another_key_counts_for_that_key,
    a_keyed_job_deleted_while_it_runs_waits_for_its_lease, an_expired_lease_frees_its_key_slot,
    keyed_concurrency_bounds_each_key, keyed_jobs_are_seen_and_deleted_as_ready_jobs,
    keyed_rate_holds_each_key_apart, keyed_reserve_takes_big_batches, keys_are_served_round_robin,
    keys_of_a_round_start_in_the_order_they_joined, postpone_pauses_only_the_key,
};
use super::limits::{
    global_concurrency_bounds_leased_jobs, limited_reserve_acks_and_keeps_to_a_pause,
    limited_reserve_takes_big_batches, postpone_pauses_the_lane_without_spending_attempts,
    rate_limit_holds_starts_within_the_window, rate_limit_is_shared_by_every_caller,
};
use super::listing::{
    listing_by_name_or_queue_wide, listing_failed_jobs_by_name, listing_failed_jobs_in_pages,
    listing_goes_on_after_the_last_listed_job_left, listing_pages_through_each_state,
    listing_ready_follows_reserve_order, listing_ready_skips_jobs_reserved_between_pages,
    listing_refuses_bad_cursors_and_sizes,
};
use super::payloads::{
    deleting_and_purging_let_large_payloads_go, large_payloads_come_back_whole_from_every_path,
};
use super::retention::{
    a_kept_job_keeps_its_id, a_kept_job_shows_when_its_runs_started,
    a_result_is_not_handed_to_a_new_job_of_the_same_id,
    clean_removes_old_completed_and_failed_jobs, completed_jobs_are_kept_by_count,
    completed_jobs_expire_by_age, completed_jobs_list_in_pages,
    completed_jobs_tied_in_time_list_once, completed_pages_hold_while_jobs_complete_and_go,
    completions_with_a_reserve_keep_and_reserve,
    completions_with_a_reserve_keep_results_and_any_number, deleted_completed_jobs_leave_room,
    purge_removes_kept_jobs_and_results, results_are_kept_until_they_expire,
};
use super::schedules::{
    a_tick_whose_job_exists_is_not_stored_twice, missed_ticks_follow_the_policy,
    paused_schedule_fires_nothing_until_resumed,
    replaced_or_removed_schedule_refuses_stale_firings, schedule_fires_only_ticks_after_the_last,
    schedule_tick_fires_once_under_concurrent_claims, schedules_are_listed_with_their_next_ticks,
};
use super::shards::{
    a_sharded_job_is_cancelled_and_cleaned_in_its_shard,
    a_sharded_lane_spreads_jobs_and_keeps_order_per_shard,
    a_sharded_queue_is_inspected_and_administered_as_one,
    a_sharded_queue_s_event_logs_are_followed_as_one,
    a_sharded_queue_s_statistics_add_up_over_its_shards,
};
use super::stats::{
    stats_forget_minutes_past_the_hour, stats_oldest_ready_at_the_lanes_heads,
    stats_record_totals_and_minutes,
};
use super::unique::{
    a_chosen_id_and_a_key_together, a_duplicate_reports_the_waiting_job,
    a_kept_completed_job_holds_no_key, a_lock_ends_after_its_time, a_lock_never_outlives_its_job,
    a_lost_lease_keeps_the_lock_while_the_job_waits,
    a_revoked_run_keeps_its_until_finished_successor_waiting,
    debounce_replaces_the_payload_and_moves_the_due_time, the_default_key_is_the_name_and_payload,
    until_finished_holds_through_runs_and_retries, until_started_frees_the_key_once_the_job_runs,
};
use super::waits::{
    job_info_records_when_runs_started, reserved_jobs_carry_their_start,
    reserved_jobs_report_their_wait_since_ready,
};
use super::{case, job, reserve_n, unique_queue, Capability, Case};
use crate::driver::Driver;
use crate::job::{Failure, JobId, JobState, Lane, Lease, ReservedJob};

/// Every case, with the capabilities beyond the hot path it needs. A case left out of this
/// table is dead code, which the lints refuse: the table is the one list of cases.
pub(super) const CASES: &[Case] = &[
    case!(fifo_within_a_lane),
    case!(priority_order),
    case!(delayed_job_becomes_ready_at_its_time, Admin),
    case!(wait_wakes_on_dispatch),
    case!(wake_up_passes_on_to_the_next_waiter),
    case!(lanes_are_independent, Admin),
    case!(a_sooner_lease_wakes_an_idle_waiter),
    case!(expired_lease_is_reaped_without_spending_an_attempt, Admin),
    case!(poison_job_ends_in_failed_list, Admin),
    case!(reserve_reports_jobs_failed_as_poison),
    case!(reserved_jobs_report_their_wait_since_ready),
    case!(job_info_records_when_runs_started, Admin),
    case!(reserved_jobs_carry_their_start),
    case!(stale_token_is_fenced, Admin),
    case!(settling_part_of_a_batch_checks_each_lease),
    case!(a_lease_of_any_length_holds),
    case!(renewal_keeps_the_lease),
    case!(retry_with_backoff, Admin),
    case!(failed_list_and_retry_from_failed, Admin),
    case!(failed_list_is_trimmed, Admin),
    case!(bulk_enqueue, Admin),
    case!(pause_and_resume, Admin),
    case!(requeue_keeps_the_attempt_and_goes_first),
    case!(returned_jobs_go_first_latest_first),
    case!(ack_and_reserve_in_one_step, Admin),
    case!(counts_by_state, Admin),
    case!(chosen_ids_are_unique),
    case!(job_lookup_follows_the_state, Admin),
    case!(delete_in_any_state, Admin),
    case!(purge_empties_the_queue, Admin),
    case!(
        a_job_purged_while_it_runs_holds_its_id_until_its_lease_ends,
        Admin
    ),
    case!(progress_is_recorded, Admin),
    case!(payload_bytes_round_trip),
    case!(large_payloads_come_back_whole_from_every_path, Admin),
    case!(deleting_and_purging_let_large_payloads_go, Admin),
    case!(queues_are_listed, Admin),
    case!(workers_are_listed_until_retired_or_expired, Presence),
    case!(lane_counts_by_job, Admin),
    case!(stats_record_totals_and_minutes, Stats),
    case!(stats_forget_minutes_past_the_hour, Stats),
    case!(stats_oldest_ready_at_the_lanes_heads, Stats, Admin),
    case!(delayed_jobs_due_together_keep_dispatch_order),
    case!(retried_jobs_keep_dispatch_order),
    case!(reaped_batch_keeps_dispatch_order),
    case!(requeued_batch_keeps_dispatch_order),
    case!(requeue_of_thousands_keeps_dispatch_order),
    case!(bulk_dispatch_of_many_calls_keeps_each_lanes_order),
    case!(out_of_range_delays_saturate, Admin),
    case!(listing_pages_through_each_state, Admin),
    case!(listing_failed_jobs_in_pages, Admin),
    case!(listing_ready_follows_reserve_order, Admin),
    case!(listing_by_name_or_queue_wide, Admin),
    case!(listing_refuses_bad_cursors_and_sizes, Admin),
    case!(listing_ready_skips_jobs_reserved_between_pages, Admin),
    case!(listing_goes_on_after_the_last_listed_job_left, Admin),
    case!(listing_failed_jobs_by_name, Admin),
    case!(completed_jobs_are_kept_by_count, Admin, Retention),
    case!(results_are_kept_until_they_expire, Admin, Retention),
    case!(completed_jobs_expire_by_age, Admin, Retention),
    case!(a_kept_job_keeps_its_id, Admin, Retention),
    case!(a_kept_job_shows_when_its_runs_started, Admin, Retention),
    case!(
        completions_with_a_reserve_keep_and_reserve,
        Admin,
        Retention
    ),
    case!(
        completions_with_a_reserve_keep_results_and_any_number,
        Admin,
        Retention
    ),
    case!(
        clean_removes_old_completed_and_failed_jobs,
        Admin,
        Retention
    ),
    case!(purge_removes_kept_jobs_and_results, Admin, Retention),
    case!(completed_jobs_list_in_pages, Admin, Retention),
    case!(completed_jobs_tied_in_time_list_once, Admin, Retention),
    case!(deleted_completed_jobs_leave_room, Admin, Retention),
    case!(
        completed_pages_hold_while_jobs_complete_and_go,
        Admin,
        Retention
    ),
    case!(
        a_result_is_not_handed_to_a_new_job_of_the_same_id,
        Retention
    ),
    case!(error_history_records_every_failed_attempt, Admin),
    case!(error_history_keeps_the_last_ten, Admin),
    case!(error_history_survives_a_retry_from_failed, Admin),
    case!(error_history_records_lost_leases, Admin),
    case!(event_log_reads_in_append_order, EventLog),
    case!(event_log_resumes_after_the_last_read, EventLog),
    case!(event_log_is_capped, EventLog),
    case!(event_log_blocking_read_wakes_on_append, EventLog),
    case!(event_logs_are_per_queue, EventLog),
    case!(rate_limit_holds_starts_within_the_window, Limits),
    case!(rate_limit_is_shared_by_every_caller, Limits),
    case!(global_concurrency_bounds_leased_jobs, Limits),
    case!(postpone_pauses_the_lane_without_spending_attempts, Limits),
    case!(limited_reserve_acks_and_keeps_to_a_pause, Limits, Admin),
    case!(limited_reserve_takes_big_batches, Limits),
    case!(keyed_rate_holds_each_key_apart, KeyedLimits, Admin),
    case!(a_flooded_key_does_not_delay_another, KeyedLimits),
    case!(keys_are_served_round_robin, KeyedLimits),
    case!(keys_of_a_round_start_in_the_order_they_joined, KeyedLimits),
    case!(keyed_concurrency_bounds_each_key, KeyedLimits),
    case!(an_expired_lease_frees_its_key_slot, KeyedLimits),
    case!(postpone_pauses_only_the_key, KeyedLimits),
    case!(
        keyed_jobs_are_seen_and_deleted_as_ready_jobs,
        KeyedLimits,
        Admin
    ),
    case!(
        a_job_dispatched_again_under_another_key_counts_for_that_key,
        KeyedLimits,
        Admin
    ),
    case!(
        a_keyed_job_deleted_while_it_runs_waits_for_its_lease,
        KeyedLimits,
        Admin
    ),
    case!(keyed_reserve_takes_big_batches, KeyedLimits),
    case!(schedule_tick_fires_once_under_concurrent_claims, Schedules),
    case!(schedule_fires_only_ticks_after_the_last, Schedules),
    case!(paused_schedule_fires_nothing_until_resumed, Schedules),
    case!(
        replaced_or_removed_schedule_refuses_stale_firings,
        Schedules
    ),
    case!(schedules_are_listed_with_their_next_ticks, Schedules),
    case!(missed_ticks_follow_the_policy, Schedules),
    case!(a_tick_whose_job_exists_is_not_stored_twice, Schedules),
    case!(a_duplicate_reports_the_waiting_job, Unique, Admin),
    case!(the_default_key_is_the_name_and_payload, Unique),
    case!(until_started_frees_the_key_once_the_job_runs, Unique),
    case!(until_finished_holds_through_runs_and_retries, Unique),
    case!(a_lock_never_outlives_its_job, Unique, Admin),
    case!(a_lost_lease_keeps_the_lock_while_the_job_waits, Unique),
    case!(
        a_revoked_run_keeps_its_until_finished_successor_waiting,
        Unique,
        Admin
    ),
    case!(a_lock_ends_after_its_time, Unique, Admin),
    case!(
        debounce_replaces_the_payload_and_moves_the_due_time,
        Unique,
        Admin
    ),
    case!(a_chosen_id_and_a_key_together, Unique),
    case!(a_kept_completed_job_holds_no_key, Unique, Retention, Admin),
    case!(cancel_removes_a_waiting_job, Cancel, Admin),
    case!(cancel_stops_a_running_job, Cancel, Admin),
    case!(
        a_cancelled_job_retried_from_failed_is_no_longer_cancelled,
        Cancel,
        Admin
    ),
    case!(a_cancelled_job_holds_no_unique_key, Cancel, Unique, Admin),
    case!(
        a_job_cancelled_while_it_ran_then_purged_holds_its_id_and_key,
        Cancel,
        Unique,
        Admin
    ),
    case!(
        a_cancelled_job_retried_then_deleted_holds_its_id_and_key,
        Cancel,
        Unique,
        Admin
    ),
    case!(
        a_job_deleted_while_it_runs_holds_its_id_until_its_lease_ends,
        Cancel,
        Admin
    ),
    case!(workflow_runs_steps_in_dependency_order, Workflows, Admin),
    case!(queued_steps_are_released_and_not_ended, Workflows),
    case!(
        workflow_releases_dependent_in_the_ending_step,
        Workflows,
        Admin
    ),
    case!(
        workflow_building_runs_nothing_until_started,
        Workflows,
        Admin
    ),
    case!(depend_failure_skips_dependents_by_default, Workflows, Admin),
    case!(depend_ignore_failure_runs_the_dependent, Workflows, Admin),
    case!(
        depend_cancelled_prerequisite_counts_as_failed,
        Workflows,
        Admin
    ),
    case!(
        workflow_fan_out_joins_children_into_dependents,
        Workflows,
        Admin
    ),
    case!(
        batch_callback_on_complete_runs_and_on_success_is_skipped,
        Workflows,
        Admin
    ),
    case!(
        batch_callback_on_success_runs_when_all_succeed,
        Workflows,
        Admin
    ),
    case!(
        workflow_retry_releases_dependents_of_a_retried_step,
        Workflows,
        Admin
    ),
    case!(
        a_reopened_steps_earlier_run_cannot_end_it,
        Workflows,
        Cancel,
        Admin
    ),
    case!(
        workflow_delete_removes_steps_and_their_jobs,
        Workflows,
        Admin
    ),
    case!(workflow_rejects_bad_input_storing_nothing, Workflows, Admin),
    case!(
        workflow_recovery_hands_over_what_a_dead_caller_left,
        Workflows,
        Admin
    ),
    case!(a_sharded_lane_spreads_jobs_and_keeps_order_per_shard, Admin),
    case!(a_sharded_queue_is_inspected_and_administered_as_one, Admin),
    case!(
        a_sharded_job_is_cancelled_and_cleaned_in_its_shard,
        Cancel,
        Retention,
        Admin
    ),
    case!(
        a_sharded_queue_s_statistics_add_up_over_its_shards,
        Stats,
        Admin
    ),
    case!(
        a_sharded_queue_s_event_logs_are_followed_as_one,
        EventLog,
        Admin
    ),
];

const LEASE: Duration = Duration::from_secs(30);
const SHORT_LEASE: Duration = Duration::from_millis(300);
const LIMIT: Duration = Duration::from_secs(5);

fn lane(prefix: &str, job: &str) -> Lane {
    Lane::new(&unique_queue(prefix), job).expect("valid lane")
}

/// The driver's inspection and administration; the cases that use it need it.
fn admin(driver: &Arc<dyn Driver>) -> &dyn crate::Admin {
    driver.admin().expect(
        "this case needs the driver's inspection and administration (Driver::capabilities().admin)",
    )
}

/// The driver's records of live workers; the cases that use it need them.
fn presence(driver: &Arc<dyn Driver>) -> &dyn crate::Presence {
    driver.presence().expect(
        "this case needs the driver's records of live workers (Driver::capabilities().presence)",
    )
}

/// Asserts that a reserve of `lane` finds no job to hand out.
async fn nothing_to_reserve(driver: &Arc<dyn Driver>, lane: &Lane) {
    let reservation = driver.reserve(lane, 10, LEASE).await.expect("reserve");
    let ids: Vec<&JobId> = reservation.jobs.iter().map(|j| &j.id).collect();
    assert!(ids.is_empty(), "reserved {ids:?} where nothing was due");
}

async fn enqueue_one(driver: &Arc<dyn Driver>, lane: &Lane, payload: serde_json::Value) -> JobId {
    let mut out = driver
        .enqueue(vec![job(lane, payload)])
        .await
        .expect("enqueue");
    assert_eq!(out.len(), 1, "one result per enqueued job");
    let d = out.pop().expect("one result");
    assert!(d.created);
    d.id
}

fn payload_n(job: &crate::ReservedJob) -> i64 {
    let v: serde_json::Value = serde_json::from_slice(&job.payload).expect("payload is JSON");
    v["n"].as_i64().expect("payload has n")
}

/// Ready jobs of a lane leave in the order they were dispatched.
async fn fifo_within_a_lane(driver: Arc<dyn Driver>) {
    let lane = lane("fifo", "work");
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(enqueue_one(&driver, &lane, json!({ "n": n })).await);
    }
    let r = driver.reserve(&lane, 10, LEASE).await.expect("reserve");
    let got: Vec<_> = r.jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(got, ids, "jobs must leave in dispatch order");
    assert!(r.jobs.iter().all(|j| j.attempt == 1 && j.max_attempts == 3));
    assert_eq!(
        r.jobs.iter().map(payload_n).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert!(
        r.jobs.iter().all(|j| j.token != 0),
        "a reservation carries a token"
    );
}

/// Higher priority first, FIFO within a priority, negative priorities after default ones.
async fn priority_order(driver: Arc<dyn Driver>) {
    let lane = lane("prio", "work");
    let spec = [
        (0, "a"),
        (5, "b"),
        (-3, "c"),
        (5, "d"),
        (10, "e"),
        (0, "f"),
        (-1, "g"),
    ];
    let jobs = spec
        .iter()
        .map(|(p, tag)| job(&lane, json!({ "tag": tag })).priority(*p))
        .collect();
    driver.enqueue(jobs).await.expect("enqueue");
    let r = driver.reserve(&lane, 10, LEASE).await.expect("reserve");
    let order: Vec<String> = r
        .jobs
        .iter()
        .map(|j| {
            let v: serde_json::Value = serde_json::from_slice(&j.payload).unwrap();
            v["tag"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(order, ["e", "b", "d", "a", "f", "g", "c"]);
}

/// A delayed job is not handed out before its time, `next_due` says when, and it is ready then.
async fn delayed_job_becomes_ready_at_its_time(driver: Arc<dyn Driver>) {
    let lane = lane("delay", "work");
    let delay = Duration::from_millis(400);
    let sent = Instant::now();
    driver
        .enqueue(vec![job(&lane, json!({ "n": 1 })).delay(delay)])
        .await
        .expect("enqueue");
    let r = driver.reserve(&lane, 1, LEASE).await.expect("reserve");
    assert!(r.jobs.is_empty(), "a delayed job must not be ready at once");
    let next = r.next_due.expect("next_due must announce the delayed job");
    assert!(
        next <= delay && next >= Duration::from_millis(200),
        "next_due {next:?} should be close to the 400ms delay"
    );
    assert_eq!(
        admin(&driver).counts(lane.queue()).await.unwrap().scheduled,
        1
    );
    let got = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await;
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(390),
        "handed out after {waited:?}, before its 400ms delay"
    );
    assert_eq!(payload_n(&got[0]), 1);
}

/// An idle `wait` returns when a job is dispatched to its lane.
async fn wait_wakes_on_dispatch(driver: Arc<dyn Driver>) {
    let lane = lane("wake", "work");
    nothing_to_reserve(&driver, &lane).await;
    let waiter = {
        let (driver, lane) = (driver.clone(), lane.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            driver
                .wait(&lane, Some(Duration::from_secs(20)))
                .await
                .unwrap();
            start.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    enqueue_one(&driver, &lane, json!({ "n": 1 })).await;
    let waited = tokio::time::timeout(LIMIT, waiter)
        .await
        .expect("wait must return after a dispatch")
        .unwrap();
    assert!(waited < Duration::from_secs(5), "woke after {waited:?}");
    assert_eq!(driver.reserve(&lane, 1, LEASE).await.unwrap().jobs.len(), 1);
}

/// Two waiters, two jobs: the first reserves one and passes the wake-up on to the second.
async fn wake_up_passes_on_to_the_next_waiter(driver: Arc<dyn Driver>) {
    let lane = lane("relay", "work");
    let mut waiters = Vec::new();
    for _ in 0..2 {
        let (driver, lane) = (driver.clone(), lane.clone());
        waiters.push(tokio::spawn(async move {
            driver
                .wait(&lane, Some(Duration::from_secs(20)))
                .await
                .unwrap();
            driver.reserve(&lane, 1, LEASE).await.unwrap().jobs.len()
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    driver
        .enqueue(vec![
            job(&lane, json!({"n": 1})),
            job(&lane, json!({"n": 2})),
        ])
        .await
        .unwrap();
    let mut total = 0;
    for w in waiters {
        total += tokio::time::timeout(LIMIT, w)
            .await
            .expect("both waiters must wake")
            .unwrap();
    }
    assert_eq!(total, 2, "each waiter reserves one job");
}

/// Jobs of one name are never handed to the lane of another name on the same queue.
async fn lanes_are_independent(driver: Arc<dyn Driver>) {
    let queue = unique_queue("lanes");
    let a = Lane::new(&queue, "a").unwrap();
    let b = Lane::new(&queue, "b").unwrap();
    enqueue_one(&driver, &a, json!({"n": 1})).await;
    enqueue_one(&driver, &b, json!({"n": 2})).await;
    enqueue_one(&driver, &a, json!({"n": 3})).await;
    let got_b = driver.reserve(&b, 10, LEASE).await.unwrap().jobs;
    assert_eq!(got_b.iter().map(payload_n).collect::<Vec<_>>(), [2]);
    let got_a = driver.reserve(&a, 10, LEASE).await.unwrap().jobs;
    assert_eq!(got_a.iter().map(payload_n).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(admin(&driver).counts(&queue).await.unwrap().active, 3);
}

/// A waiting worker is woken when a lease is taken that ends before anything it waits for, so
/// it can reap the job in time if the worker holding it dies.
async fn a_sooner_lease_wakes_an_idle_waiter(driver: Arc<dyn Driver>) {
    let lane = lane("lease-wake", "work");
    driver
        .enqueue(vec![
            job(&lane, json!({"n": 1})),
            job(&lane, json!({"n": 2})),
        ])
        .await
        .unwrap();
    assert_eq!(
        driver
            .reserve(&lane, 1, Duration::from_secs(20))
            .await
            .unwrap()
            .jobs
            .len(),
        1
    );
    // Use up pending wake-ups, so the waiter below blocks.
    for _ in 0..3 {
        driver
            .wait(&lane, Some(Duration::from_millis(50)))
            .await
            .unwrap();
    }
    let waiter = {
        let (driver, lane) = (driver.clone(), lane.clone());
        tokio::spawn(async move { driver.wait(&lane, None).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiter.is_finished(),
        "nothing happened yet that should wake the waiter"
    );
    // Another worker takes the second job with a lease ending long before the first one's.
    assert_eq!(
        driver
            .reserve(&lane, 1, SHORT_LEASE)
            .await
            .unwrap()
            .jobs
            .len(),
        1
    );
    tokio::time::timeout(LIMIT, waiter)
        .await
        .expect("the sooner lease deadline must wake the waiter")
        .unwrap();
}

/// A lease that runs out puts the job back (first in line) without spending the attempt: the
/// next run has the lost run's attempt number, and the lost lease is counted apart.
async fn expired_lease_is_reaped_without_spending_an_attempt(driver: Arc<dyn Driver>) {
    let lane = lane("reap", "work");
    let id = enqueue_one(&driver, &lane, json!({"n": 1})).await;
    let first = driver.reserve(&lane, 1, SHORT_LEASE).await.unwrap().jobs;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempt, 1);
    enqueue_one(&driver, &lane, json!({"n": 2})).await;
    let r = driver.reserve(&lane, 1, LEASE).await.unwrap();
    assert_eq!(
        payload_n(&r.jobs[0]),
        2,
        "the leased job is not handed out twice"
    );
    let r = driver.reserve(&lane, 1, LEASE).await.unwrap();
    assert!(r.jobs.is_empty());
    let due = r
        .next_due
        .expect("next_due must announce the lease deadline");
    assert!(due <= SHORT_LEASE, "next_due {due:?} is past the lease");
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(50)).await;
    let again = driver.reserve(&lane, 1, LEASE).await.unwrap().jobs;
    assert_eq!(again.len(), 1, "the expired job must be handed out again");
    assert_eq!(again[0].id, id);
    assert_eq!(
        again[0].attempt, 1,
        "the lost run is not an attempt: the next run has its number"
    );
    assert_ne!(
        again[0].token, first[0].token,
        "a new reservation has a new token"
    );
    let info = admin(&driver)
        .job(lane.queue(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((info.attempts, info.lost_leases), (1, 1));
    // The same words on every driver (the rule lives in each driver's code: the suite keeps
    // them one).
    assert_eq!(
        info.last_error.as_deref(),
        Some(
            "lease expired during attempt 1 of 3: the worker running it stopped or lost its \
             connection (lost lease 1; the attempt is not counted)"
        ),
        "the reap is recorded as the last error"
    );
    // A success after a lost lease removes the job and its count.
    assert_eq!(
        driver.ack(&lane, &[again[0].lease()]).await.unwrap(),
        [true]
    );
    assert!(admin(&driver)
        .job(lane.queue(), &id)
        .await
        .unwrap()
        .is_none());
}

/// The reserve that reaps a job into the failed list as poison names it, with the attempt it
/// failed at, so the worker can report it; reserves that fail nothing name nothing.
async fn reserve_reports_jobs_failed_as_poison(driver: Arc<dyn Driver>) {
    let lane = lane("poison-report", "work");
    let id = driver
        .enqueue(vec![job(&lane, json!({"n": 1}))])
        .await
        .unwrap()[0]
        .id
        .clone();
    for _ in 0..crate::DEFAULT_MAX_LOST_LEASES {
        let got = driver.reserve(&lane, 1, SHORT_LEASE).await.unwrap();
        assert_eq!(got.jobs.len(), 1);
        assert!(got.poisoned.is_empty(), "{:?}", got.poisoned);
        tokio::time::sleep(SHORT_LEASE + Duration::from_millis(50)).await;
    }
    let got = driver.reserve(&lane, 1, SHORT_LEASE).await.unwrap();
    assert!(got.jobs.is_empty());
    assert_eq!(got.poisoned, vec![(id, 1)]);
    let again = driver.reserve(&lane, 1, SHORT_LEASE).await.unwrap();
    assert!(again.poisoned.is_empty());
}

/// A job whose runs keep losing their lease is failed as poison after
/// [`DEFAULT_MAX_LOST_LEASES`](crate::DEFAULT_MAX_LOST_LEASES) lost leases, with its attempts
/// untouched; a retry from the failed list forgets the lost leases.
async fn poison_job_ends_in_failed_list(driver: Arc<dyn Driver>) {
    let lane = lane("poison", "work");
    let id = driver
        .enqueue(vec![job(&lane, json!({"n": 1})).attempts(5)])
        .await
        .unwrap()[0]
        .id
        .clone();
    let limit = crate::DEFAULT_MAX_LOST_LEASES;
    for lost in 0..limit {
        let got = reserve_n(&driver, &lane, 1, SHORT_LEASE, LIMIT).await;
        assert_eq!(got[0].attempt, 1, "no lost lease spends an attempt");
        let info = admin(&driver)
            .job(lane.queue(), &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.lost_leases, lost);
        tokio::time::sleep(SHORT_LEASE + Duration::from_millis(50)).await;
    }
    assert_eq!(driver.reap(&lane).await.unwrap(), 1);
    let counts = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!((counts.ready, counts.active, counts.failed), (0, 0, 1));
    let failed = admin(&driver).failed(lane.queue(), 0, 10).await.unwrap();
    assert_eq!(failed[0].id, id);
    assert_eq!(failed[0].attempts, 0, "no handler run ended");
    assert_eq!(failed[0].lost_leases, limit);
    let error = failed[0].last_error.clone().unwrap_or_default();
    assert_eq!(
        error,
        format!(
            "poison: lost its lease {limit} times; the worker running it stopped or lost its \
             connection each time"
        )
    );
    assert_eq!(
        admin(&driver)
            .retry_failed(lane.queue(), Some(&id))
            .await
            .unwrap(),
        1
    );
    let info = admin(&driver)
        .job(lane.queue(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((info.state, info.lost_leases), (JobState::Ready, 0));
}

/// After a lease expired and the job was handed out again, the old token settles nothing.
async fn stale_token_is_fenced(driver: Arc<dyn Driver>) {
    let lane = lane("fence", "work");
    enqueue_one(&driver, &lane, json!({"n": 1})).await;
    let old = driver.reserve(&lane, 1, SHORT_LEASE).await.unwrap().jobs[0].lease();
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(50)).await;
    let new = driver.reserve(&lane, 1, LEASE).await.unwrap().jobs[0].lease();
    assert_eq!(old.id, new.id);
    let lease = std::slice::from_ref(&old);
    assert_eq!(driver.ack(&lane, lease).await.unwrap(), [false]);
    assert!(!driver
        .fail(&lane, &old, Failure::fail("stale"))
        .await
        .unwrap());
    assert_eq!(driver.renew(&lane, lease, LEASE).await.unwrap(), [false]);
    assert_eq!(driver.requeue(&lane, lease).await.unwrap(), [false]);
    assert!(!driver.progress(&lane, &old, json!(50)).await.unwrap());
    let counts = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!((counts.active, counts.failed, counts.ready), (1, 0, 0));
    assert_eq!(
        driver.ack(&lane, std::slice::from_ref(&new)).await.unwrap(),
        [true]
    );
    assert_eq!(
        driver.ack(&lane, &[new]).await.unwrap(),
        [false],
        "ack twice"
    );
    assert!(admin(&driver)
        .job(lane.queue(), &old.id)
        .await
        .unwrap()
        .is_none());
}

/// Settlements naming a few of a batch's jobs, all of them, or a mix of held leases, settled
/// ones and jobs under a token that is not theirs each get their own answer: the storage may
/// look leases up per job or per batch, and neither may answer for another lease.
async fn settling_part_of_a_batch_checks_each_lease(driver: Arc<dyn Driver>) {
    let lane = lane("part", "work");
    let jobs = (0..10).map(|n| job(&lane, json!({ "n": n }))).collect();
    driver.enqueue(jobs).await.unwrap();
    let leases: Vec<Lease> = driver
        .reserve(&lane, 10, LEASE)
        .await
        .unwrap()
        .jobs
        .iter()
        .map(ReservedJob::lease)
        .collect();
    assert_eq!(leases.len(), 10);
    let stale = |l: &Lease| Lease {
        id: l.id.clone(),
        token: l.token + 1,
    };
    assert_eq!(
        driver.renew(&lane, &leases, LEASE).await.unwrap(),
        [true; 10]
    );
    // Two of the ten, then the first again beside held ones and a job under another token.
    assert_eq!(driver.ack(&lane, &leases[..2]).await.unwrap(), [true, true]);
    let mixed = [
        leases[0].clone(),
        leases[2].clone(),
        stale(&leases[3]),
        leases[4].clone(),
    ];
    assert_eq!(
        driver.ack(&lane, &mixed).await.unwrap(),
        [false, true, false, true]
    );
    let rest: Vec<Lease> = leases[5..].iter().chain([&leases[3]]).cloned().collect();
    let mut renewals = rest.clone();
    renewals.push(stale(&leases[9]));
    renewals.push(leases[1].clone());
    let mut expected = [true; 8];
    expected[6..].fill(false);
    assert_eq!(
        driver.renew(&lane, &renewals, LEASE).await.unwrap(),
        expected
    );
    assert_eq!(driver.ack(&lane, &rest).await.unwrap(), [true; 6]);
    // All ten acked once: none holds a lease now, and none came back to be reserved.
    assert_eq!(driver.ack(&lane, &leases).await.unwrap(), [false; 10]);
    nothing_to_reserve(&driver, &lane).await;
}

/// A lease as long as a `Duration` holds (stored as a deadline past any clock), renewed alike:
/// the next reserve, which reaps expired leases first, does not hand the job out again.
async fn a_lease_of_any_length_holds(driver: Arc<dyn Driver>) {
    let lane = lane("endless", "work");
    enqueue_one(&driver, &lane, json!({"n": 1})).await;
    let lease = driver.reserve(&lane, 1, Duration::MAX).await.unwrap().jobs[0].lease();
    nothing_to_reserve(&driver, &lane).await;
    let held = driver
        .renew(&lane, std::slice::from_ref(&lease), Duration::MAX)
        .await
        .unwrap();
    assert_eq!(held, [true]);
    nothing_to_reserve(&driver, &lane).await;
    assert_eq!(driver.ack(&lane, &[lease]).await.unwrap(), [true]);
}

/// Renewing a lease keeps the job from being reaped.
async fn renewal_keeps_the_lease(driver: Arc<dyn Driver>) {
    let lane = lane("renew", "work");
    enqueue_one(&driver, &lane, json!({"n": 1})).await;
    let lease = driver.reserve(&lane, 1, SHORT_LEASE).await.unwrap().jobs[0].lease();
    for _ in 0..6 {
        tokio::time::sleep(SHORT_LEASE / 3).await;
        let held = driver
            .renew(&lane, std::slice::from_ref(&lease), SHORT_LEASE)
            .await
            .unwrap();
        assert_eq!(held, [true]);
        nothing_to_reserve(&driver, &lane).await;
    }
    assert_eq!(driver.ack(&lane, &[lease]).await.unwrap(), [true]);
}

/// A failed run with a retry delay comes back after the delay with the next attempt number, and
/// its error is recorded meanwhile.
async fn retry_with_backoff(driver: Arc<dyn Driver>) {
    let lane = lane("retry", "work");
    let id = enqueue_one(&driver, &lane, json!({"n": 1})).await;
    let first = driver.reserve(&lane, 1, LEASE).await.unwrap().jobs;
    let failed_at = Instant::now();
    let retried = driver
        .fail(
            &lane,
            &first[0].lease(),
            Failure::retry("boom", Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert!(retried);
    let info = admin(&driver)
        .job(lane.queue(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.state, JobState::Scheduled);
    assert_eq!(info.last_error.as_deref(), Some("boom"));
    let r = driver.reserve(&lane, 1, LEASE).await.unwrap();
    assert!(r.jobs.is_empty(), "a retry waits for its backoff");
    assert!(r.next_due.is_some_and(|d| d <= Duration::from_millis(300)));
    let again = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await;
    assert!(failed_at.elapsed() >= Duration::from_millis(290));
    assert_eq!(again[0].attempt, 2);
    assert_eq!(again[0].id, id);
}

/// A final failure lands in the failed list with its error; it can be retried one by one or all
/// at once, with fresh attempts.
async fn failed_list_and_retry_from_failed(driver: Arc<dyn Driver>) {
    let lane = lane("failed", "work");
    for n in 0..3 {
        enqueue_one(&driver, &lane, json!({ "n": n })).await;
    }
    let jobs = driver.reserve(&lane, 3, LEASE).await.unwrap().jobs;
    for (i, j) in jobs.iter().enumerate() {
        assert!(driver
            .fail(&lane, &j.lease(), Failure::fail(format!("bad {i}")))
            .await
            .unwrap());
    }
    let failed = admin(&driver).failed(lane.queue(), 0, 10).await.unwrap();
    assert_eq!(failed.len(), 3);
    assert_eq!(
        failed
            .iter()
            .map(|f| f.last_error.clone().unwrap())
            .collect::<Vec<_>>(),
        ["bad 2", "bad 1", "bad 0"],
        "newest first"
    );
    assert!(failed
        .iter()
        .all(|f| f.state == JobState::Failed && f.failed_at.is_some()));
    assert_eq!(failed[0].attempts, 1);
    assert_eq!(
        admin(&driver).failed(lane.queue(), 1, 1).await.unwrap()[0].id,
        failed[1].id
    );

    assert_eq!(
        admin(&driver)
            .retry_failed(lane.queue(), Some(&failed[1].id))
            .await
            .unwrap(),
        1
    );
    let missing = JobId::from("no-such-job");
    assert_eq!(
        admin(&driver)
            .retry_failed(lane.queue(), Some(&missing))
            .await
            .unwrap(),
        0
    );
    let back = driver.reserve(&lane, 10, LEASE).await.unwrap().jobs;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].id, failed[1].id);
    assert_eq!(
        back[0].attempt, 1,
        "retry from failed restores the attempts"
    );

    assert_eq!(
        admin(&driver)
            .retry_failed(lane.queue(), None)
            .await
            .unwrap(),
        2
    );
    assert_eq!(admin(&driver).counts(lane.queue()).await.unwrap().failed, 0);
    let rest = driver.reserve(&lane, 10, LEASE).await.unwrap().jobs;
    assert_eq!(rest.len(), 2);
}

/// The failed list keeps the newest [`FAILED_CAP`](super::FAILED_CAP) entries; older ones are
/// removed entirely.
async fn failed_list_is_trimmed(driver: Arc<dyn Driver>) {
    let lane = lane("trim", "work");
    let cap = super::FAILED_CAP;
    let n = cap + 10;
    let jobs = (0..n).map(|i| job(&lane, json!({ "n": i }))).collect();
    driver.enqueue(jobs).await.unwrap();
    let got = driver.reserve(&lane, n, LEASE).await.unwrap().jobs;
    for j in &got {
        driver
            .fail(&lane, &j.lease(), Failure::fail("x"))
            .await
            .unwrap();
    }
    let counts = admin(&driver).counts(lane.queue()).await.unwrap();
    let failed = admin(&driver).failed(lane.queue(), 0, n).await.unwrap();
    assert_eq!(counts.failed, cap as u64, "the failed list is capped");
    assert_eq!(failed.len(), cap);
    let newest: Vec<_> = failed.iter().map(|f| f.id.clone()).collect();
    let expected: Vec<_> = got
        .iter()
        .rev()
        .take(newest.len())
        .map(|j| j.id.clone())
        .collect();
    assert_eq!(newest, expected, "the newest failures are the ones kept");
    // Trimmed jobs are gone entirely, not left behind.
    for j in got.iter().take(n - newest.len()) {
        assert!(admin(&driver)
            .job(lane.queue(), &j.id)
            .await
            .unwrap()
            .is_none());
    }
}

/// One call stores many jobs, ids in order; they drain in order in batches.
async fn bulk_enqueue(driver: Arc<dyn Driver>) {
    let lane = lane("bulk", "work");
    let jobs = (0..1000).map(|n| job(&lane, json!({ "n": n }))).collect();
    let stored = driver.enqueue(jobs).await.unwrap();
    assert_eq!(stored.len(), 1000);
    assert!(stored.iter().all(|d| d.created));
    assert_eq!(
        admin(&driver).counts(lane.queue()).await.unwrap().ready,
        1000
    );
    let mut seen = Vec::new();
    loop {
        let r = driver.reserve(&lane, 128, LEASE).await.unwrap();
        if r.jobs.is_empty() {
            break;
        }
        seen.extend(r.jobs.iter().map(payload_n));
        let leases: Vec<_> = r.jobs.iter().map(|j| j.lease()).collect();
        assert!(driver.ack(&lane, &leases).await.unwrap().iter().all(|x| *x));
    }
    assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    assert_eq!(
        admin(&driver).counts(lane.queue()).await.unwrap().pending(),
        0
    );
}

/// A paused queue stores but hands nothing out; resuming wakes waiting workers.
async fn pause_and_resume(driver: Arc<dyn Driver>) {
    let lane = lane("pause", "work");
    admin(&driver).pause(lane.queue()).await.unwrap();
    enqueue_one(&driver, &lane, json!({"n": 1})).await;
    let counts = admin(&driver).counts(lane.queue()).await.unwrap();
    assert!(counts.paused);
    assert_eq!(counts.ready, 1);
    nothing_to_reserve(&driver, &lane).await;
    let waiter = {
        let (driver, lane) = (driver.clone(), lane.clone());
        tokio::spawn(async move {
            // A paused lane may wake its waiter spuriously; loop like a worker would.
            loop {
                driver
                    .wait(&lane, Some(Duration::from_secs(20)))
                    .await
                    .unwrap();
                let r = driver.reserve(&lane, 1, LEASE).await.unwrap();
                if !r.jobs.is_empty() {
                    return r.jobs.len();
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        !waiter.is_finished(),
        "nothing may be handed out while paused"
    );
    admin(&driver).resume(lane.queue()).await.unwrap();
    let got = tokio::time::timeout(LIMIT, waiter)
        .await
        .expect("resume must wake the waiter")
        .unwrap();
    assert_eq!(got, 1);
    assert!(!admin(&driver).counts(lane.queue()).await.unwrap().paused);
}

/// A requeued job keeps its attempt number and goes before jobs that were waiting.
async fn requeue_keeps_the_attempt_and_goes_first(driver: Arc<dyn Driver>) {
    let lane = lane("requeue", "work");
    let id = enqueue_one(&driver, &lane, json!({"n": 1})).await;
    let taken = driver.reserve(&lane, 1, LEASE).await.unwrap().jobs;
    enqueue_one(&driver, &lane, json!({"n": 2})).await;
    assert_eq!(
        driver.requeue(&lane, &[taken[0].lease()]).await.unwrap(),
        [true]
    );
    let again = driver.reserve(&lane, 2, LEASE).await.unwrap().jobs;
    assert_eq!(again[0].id, id, "a requeued job goes first");
    assert_eq!(again[0].attempt, 1, "requeueing does not spend an attempt");
    assert_eq!(payload_n(&again[1]), 2);
}

/// Returned jobs go to the head of their priority, the latest returned first; jobs promoted
/// from the schedule join the back. The same rule holds for priority 0 and other priorities.
async fn returned_jobs_go_first_latest_first(driver: Arc<dyn Driver>) {
    for priority in [0, 5] {
        let lane = lane("front", "work");
        let jobs = (1..=3)
            .map(|n| job(&lane, json!({ "n": n })).priority(priority))
            .collect();
        driver.enqueue(jobs).await.unwrap();
        let taken = driver.reserve(&lane, 3, LEASE).await.unwrap().jobs;
        driver.requeue(&lane, &[taken[0].lease()]).await.unwrap();
        let delayed = job(&lane, json!({"n": 4}))
            .priority(priority)
            .delay(Duration::from_millis(50));
        driver.enqueue(vec![delayed]).await.unwrap();
        driver
            .enqueue(vec![job(&lane, json!({"n": 5})).priority(priority)])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        // Two returned in one call keep their order, ahead of the earlier return.
        let back = driver
            .requeue(&lane, &[taken[1].lease(), taken[2].lease()])
            .await
            .unwrap();
        assert_eq!(back, [true, true]);
        let order: Vec<i64> = driver
            .reserve(&lane, 10, LEASE)
            .await
            .unwrap()
            .jobs
            .iter()
            .map(payload_n)
            .collect();
        assert_eq!(order, [2, 3, 1, 5, 4], "priority {priority}");
    }
}

/// One call acks finished jobs (refusing stale leases) and reserves the next ones.
async fn ack_and_reserve_in_one_step(driver: Arc<dyn Driver>) {
    let lane = lane("ackres", "work");
    let jobs = (1..=4).map(|n| job(&lane, json!({ "n": n }))).collect();
    driver.enqueue(jobs).await.unwrap();
    let taken = driver.reserve(&lane, 2, LEASE).await.unwrap().jobs;
    let mut stale = taken[1].lease();
    stale.token += 1000;
    let (acked, next) = driver
        .ack_and_reserve(&lane, &[taken[0].lease(), stale], 5, LEASE)
        .await
        .unwrap();
    assert_eq!(acked, [true, false]);
    assert_eq!(next.jobs.iter().map(payload_n).collect::<Vec<_>>(), [3, 4]);
    assert!(next.jobs.iter().all(|j| j.attempt == 1));
    let queue = lane.queue();
    assert!(admin(&driver)
        .job(queue, &taken[0].id)
        .await
        .unwrap()
        .is_none());
    let second = admin(&driver)
        .job(queue, &taken[1].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        second.state,
        JobState::Active,
        "a stale ack changes nothing"
    );
    assert_eq!(second.attempts, 1);
    // Nothing left: the acks still happen and the reservation says so.
    let done: Vec<_> = next.jobs.iter().map(|j| j.lease()).collect();
    let (acked, none) = driver
        .ack_and_reserve(&lane, &done, 5, LEASE)
        .await
        .unwrap();
    assert_eq!(acked, [true, true]);
    assert!(none.jobs.is_empty());
    assert_eq!(admin(&driver).counts(queue).await.unwrap().active, 1);
}

/// Counts report each state.
async fn counts_by_state(driver: Arc<dyn Driver>) {
    let lane = lane("counts", "work");
    let jobs = vec![
        job(&lane, json!({"n": 1})),
        job(&lane, json!({"n": 2})),
        job(&lane, json!({"n": 3})),
        job(&lane, json!({"n": 4})),
        job(&lane, json!({"n": 5})).delay(Duration::from_secs(60)),
    ];
    driver.enqueue(jobs).await.unwrap();
    let taken = driver.reserve(&lane, 2, LEASE).await.unwrap().jobs;
    driver
        .fail(&lane, &taken[0].lease(), Failure::fail("x"))
        .await
        .unwrap();
    let c = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!((c.scheduled, c.ready, c.active, c.failed), (1, 2, 1, 1));
    assert!(!c.paused);
    let empty = admin(&driver)
        .counts(&unique_queue("never-used"))
        .await
        .unwrap();
    assert_eq!(empty.pending() + empty.failed, 0);
}

/// A chosen id is stored once while the job exists, and can be reused after it is done.
async fn chosen_ids_are_unique(driver: Arc<dyn Driver>) {
    let lane = lane("unique", "work");
    let first = driver
        .enqueue(vec![job(&lane, json!({"n": 1})).id("order-7")])
        .await
        .unwrap();
    assert_eq!(first[0].id.as_str(), "order-7");
    assert!(first[0].created);
    let again = driver
        .enqueue(vec![
            job(&lane, json!({"n": 2})).id("order-7"),
            job(&lane, json!({"n": 3})).id("order-8"),
        ])
        .await
        .unwrap();
    assert!(
        !again[0].created,
        "a second job with a live id is not stored"
    );
    assert!(again[1].created);
    let taken = driver.reserve(&lane, 10, LEASE).await.unwrap().jobs;
    assert_eq!(taken.iter().map(payload_n).collect::<Vec<_>>(), [1, 3]);
    let leases: Vec<_> = taken.iter().map(|j| j.lease()).collect();
    driver.ack(&lane, &leases).await.unwrap();
    let later = driver
        .enqueue(vec![job(&lane, json!({"n": 4})).id("order-7")])
        .await
        .unwrap();
    assert!(later[0].created, "an id is free again once its job is done");
}

/// Looking a job up reports its state as it moves, and nothing once it is done.
async fn job_lookup_follows_the_state(driver: Arc<dyn Driver>) {
    let lane = lane("lookup", "work");
    let id = driver
        .enqueue(vec![job(&lane, json!({"n": 1})).priority(4).attempts(2)])
        .await
        .unwrap()[0]
        .id
        .clone();
    let state = |driver: Arc<dyn Driver>, lane: Lane, id: JobId| async move {
        admin(&driver)
            .job(lane.queue(), &id)
            .await
            .unwrap()
            .map(|j| j.state)
    };
    let info = admin(&driver)
        .job(lane.queue(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.state, JobState::Ready);
    assert_eq!(
        (info.name.as_str(), info.queue.as_str()),
        ("work", lane.queue())
    );
    assert_eq!((info.priority, info.max_attempts, info.attempts), (4, 2, 0));
    assert_eq!(info.payload_json(), json!({"n": 1}));
    let taken = driver.reserve(&lane, 1, LEASE).await.unwrap().jobs;
    assert_eq!(
        state(driver.clone(), lane.clone(), id.clone()).await,
        Some(JobState::Active)
    );
    driver
        .fail(
            &lane,
            &taken[0].lease(),
            Failure::retry("e1", Duration::from_millis(10)),
        )
        .await
        .unwrap();
    assert_eq!(
        state(driver.clone(), lane.clone(), id.clone()).await,
        Some(JobState::Scheduled)
    );
    let taken = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await;
    driver
        .fail(&lane, &taken[0].lease(), Failure::fail("e2"))
        .await
        .unwrap();
    let info = admin(&driver)
        .job(lane.queue(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.state, JobState::Failed);
    assert_eq!(info.attempts, 2);
    assert_eq!(info.last_error.as_deref(), Some("e2"));
    assert!(admin(&driver)
        .job(lane.queue(), &JobId::from("nope-1"))
        .await
        .unwrap()
        .is_none());
}

/// Deleting works in every state; a deleted active job's lease is stale.
async fn delete_in_any_state(driver: Arc<dyn Driver>) {
    let lane = lane("delete", "work");
    let ready = enqueue_one(&driver, &lane, json!({"n": 1})).await;
    let active = enqueue_one(&driver, &lane, json!({"n": 2})).await;
    let scheduled = driver
        .enqueue(vec![
            job(&lane, json!({"n": 3})).delay(Duration::from_secs(60))
        ])
        .await
        .unwrap()[0]
        .id
        .clone();
    let taken = driver.reserve(&lane, 2, LEASE).await.unwrap().jobs;
    assert_eq!(taken[1].id, active);
    driver
        .fail(&lane, &taken[0].lease(), Failure::fail("x"))
        .await
        .unwrap();
    let failed = ready; // the first job is now in the failed list
    let ready = enqueue_one(&driver, &lane, json!({"n": 4})).await;
    for id in [&ready, &active, &scheduled, &failed] {
        assert!(
            admin(&driver).delete(lane.queue(), id).await.unwrap(),
            "delete {id}"
        );
        assert!(admin(&driver)
            .job(lane.queue(), id)
            .await
            .unwrap()
            .is_none());
        assert!(
            !admin(&driver).delete(lane.queue(), id).await.unwrap(),
            "second delete of {id}"
        );
    }
    assert_eq!(
        driver.ack(&lane, &[taken[1].lease()]).await.unwrap(),
        [false]
    );
    let c = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!(c.pending() + c.failed, 0);
    nothing_to_reserve(&driver, &lane).await;
}

/// A purge while a job runs holds the running job's id until its lease would have ended (its
/// run may go on until its worker's next renewal): dispatched again before then, it waits; the
/// id of a job that was waiting is free at once.
async fn a_job_purged_while_it_runs_holds_its_id_until_its_lease_ends(driver: Arc<dyn Driver>) {
    let lane = lane("purge-running", "work");
    let store = |id: &str| job(&lane, json!({ "id": id })).id(id);
    driver
        .enqueue(vec![store("running"), store("waiting")])
        .await
        .unwrap();
    let held = Duration::from_secs(2);
    let taken = driver.reserve(&lane, 1, held).await.unwrap().jobs;
    assert_eq!(taken[0].id, JobId::from("running"));
    admin(&driver).purge(lane.queue()).await.unwrap();
    let again = driver
        .enqueue(vec![store("running"), store("waiting")])
        .await
        .unwrap();
    assert!(again.iter().all(|d| d.created));
    let early = driver.reserve(&lane, 10, LEASE).await.unwrap().jobs;
    let early: Vec<_> = early.iter().map(|j| j.id.to_string()).collect();
    assert_eq!(
        early,
        ["waiting"],
        "handed out while the purged run's lease holds"
    );
    let later = reserve_n(&driver, &lane, 1, LEASE, Duration::from_secs(5)).await;
    assert_eq!(later[0].id, JobId::from("running"));
}

/// Purge removes every job of the queue, in every state, and only of that queue.
async fn purge_empties_the_queue(driver: Arc<dyn Driver>) {
    let lane = lane("purge", "work");
    let other = Lane::new(&unique_queue("purge-other"), "work").unwrap();
    let jobs = vec![
        job(&lane, json!({"n": 1})),
        job(&lane, json!({"n": 2})),
        job(&lane, json!({"n": 3})).delay(Duration::from_secs(60)),
    ];
    driver.enqueue(jobs).await.unwrap();
    enqueue_one(&driver, &other, json!({"n": 9})).await;
    let taken = driver.reserve(&lane, 1, LEASE).await.unwrap().jobs;
    admin(&driver).purge(lane.queue()).await.unwrap();
    let c = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!(c.pending() + c.failed, 0);
    assert_eq!(
        driver.ack(&lane, &[taken[0].lease()]).await.unwrap(),
        [false]
    );
    assert_eq!(admin(&driver).counts(other.queue()).await.unwrap().ready, 1);
    let fresh = enqueue_one(&driver, &lane, json!({"n": 4})).await;
    let again = driver.reserve(&lane, 10, LEASE).await.unwrap().jobs;
    assert_eq!(again.len(), 1);
    // Ids and tokens are not reused after a purge: a lease from before it matches nothing.
    assert_ne!(again[0].id, taken[0].id, "ids are not reused after a purge");
    assert_ne!(
        again[0].token, taken[0].token,
        "tokens are not reused after a purge"
    );
    assert_eq!(
        driver.ack(&lane, &[taken[0].lease()]).await.unwrap(),
        [false]
    );
    assert_eq!(
        admin(&driver)
            .job(lane.queue(), &fresh)
            .await
            .unwrap()
            .map(|j| j.state),
        Some(JobState::Active)
    );
}

/// Progress reported by a running job shows in its record.
async fn progress_is_recorded(driver: Arc<dyn Driver>) {
    let lane = lane("progress", "work");
    let id = enqueue_one(&driver, &lane, json!({"n": 1})).await;
    let lease = driver.reserve(&lane, 1, LEASE).await.unwrap().jobs[0].lease();
    assert!(driver
        .progress(&lane, &lease, json!({"done": 40, "of": 100}))
        .await
        .unwrap());
    let info = admin(&driver)
        .job(lane.queue(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.progress, Some(json!({"done": 40, "of": 100})));
}

/// Payload bytes come back exactly as dispatched, whatever they hold: workers read a trace
/// context ahead of the JSON from them.
async fn payload_bytes_round_trip(driver: Arc<dyn Driver>) {
    let lane = lane("bytes", "work");
    let payloads: Vec<Vec<u8>> = vec![
        br#"{"text":"h\u00e9llo \ud83d\ude00 \"q\" \\ \n","n":-1.5e300}"#.to_vec(),
        "{\"emoji\":\"😀\",\"nul\":\"\\u0000\"}".as_bytes().to_vec(),
        b"not json at all \x00\xff\xfe".to_vec(),
        // A trace context ahead of the JSON (`StoredPayload`), as dispatches with the `otel`
        // feature store it.
        b"\x1etraceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\x1e{}".to_vec(),
        Vec::new(),
        vec![b'x'; 100_000],
    ];
    let jobs = payloads
        .iter()
        .map(|p| crate::NewJob::named(lane.job(), p.clone()).queue(lane.queue()))
        .collect();
    driver.enqueue(jobs).await.unwrap();
    let got = driver.reserve(&lane, 10, LEASE).await.unwrap().jobs;
    let got: Vec<Vec<u8>> = got.iter().map(|j| j.payload.to_vec()).collect();
    assert_eq!(got, payloads);
}

/// Queues that received jobs are listed.
async fn queues_are_listed(driver: Arc<dyn Driver>) {
    let a = lane("listed", "work");
    let b = lane("listed", "other");
    enqueue_one(&driver, &a, json!({})).await;
    enqueue_one(&driver, &b, json!({})).await;
    let queues = admin(&driver).queues().await.unwrap();
    assert!(queues.iter().any(|q| q == a.queue()), "{queues:?}");
    assert!(queues.iter().any(|q| q == b.queue()), "{queues:?}");
}

/// A worker's heartbeat lists it with its lanes and their load until it is retired or its
/// record expires.
async fn workers_are_listed_until_retired_or_expired(driver: Arc<dyn Driver>) {
    let lanes = vec![lane("presence", "a"), lane("presence", "b")];
    let mine = |id: &str| {
        let id = id.to_string();
        let driver = driver.clone();
        async move {
            presence(&driver)
                .workers()
                .await
                .expect("workers")
                .into_iter()
                .find(|w| w.id == id)
        }
    };
    let worker = crate::WorkerPresence::new(
        unique_queue("worker-retired"),
        "host-a".into(),
        41,
        crate::from_unix_ms(1_700_000_000_000),
        lanes.clone(),
    )
    .with_load(vec![crate::LaneLoad::new(8, 3), crate::LaneLoad::new(1, 0)]);
    presence(&driver)
        .heartbeat(&worker, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(mine(&worker.id).await.as_ref(), Some(&worker));
    // A later heartbeat replaces the load.
    let busier = worker
        .clone()
        .with_load(vec![crate::LaneLoad::new(8, 8), crate::LaneLoad::new(1, 1)]);
    presence(&driver)
        .heartbeat(&busier, Duration::from_secs(30))
        .await
        .unwrap();
    let listed = mine(&worker.id).await.expect("still listed");
    assert_eq!(listed.load_of(&lanes[0]), Some(crate::LaneLoad::new(8, 8)));
    assert_eq!(listed, busier);
    presence(&driver).retire(&worker.id).await.unwrap();
    assert_eq!(mine(&worker.id).await, None, "a retired worker is gone");

    let expiring = crate::WorkerPresence::new(
        unique_queue("worker-expiring"),
        "host-b".into(),
        42,
        crate::from_unix_ms(1_700_000_000_000),
        lanes,
    );
    presence(&driver)
        .heartbeat(&expiring, Duration::from_millis(200))
        .await
        .unwrap();
    assert!(mine(&expiring.id).await.is_some());
    let deadline = Instant::now() + LIMIT;
    while mine(&expiring.id).await.is_some() {
        assert!(
            Instant::now() < deadline,
            "a worker whose heartbeat expired is still listed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A queue's jobs are counted per lane (job name), in name order.
async fn lane_counts_by_job(driver: Arc<dyn Driver>) {
    let a = lane("lanecounts", "alpha");
    let b = Lane::new(a.queue(), "beta").unwrap();
    let jobs = vec![
        job(&a, json!({"n": 1})),
        job(&a, json!({"n": 2})),
        job(&b, json!({"n": 3})).delay(Duration::from_secs(60)),
        job(&b, json!({"n": 4})),
    ];
    driver.enqueue(jobs).await.unwrap();
    driver.reserve(&b, 1, LEASE).await.unwrap();
    let counts = admin(&driver).lane_counts(a.queue()).await.unwrap();
    let summary: Vec<(String, u64, u64, u64)> = counts
        .into_iter()
        .map(|(job, c)| (job, c.ready, c.scheduled, c.active))
        .collect();
    assert_eq!(
        summary,
        [
            ("alpha".to_string(), 2, 0, 0),
            ("beta".to_string(), 0, 1, 1)
        ]
    );
    assert!(admin(&driver)
        .lane_counts(&unique_queue("never-used"))
        .await
        .unwrap()
        .is_empty());
}

/// Jobs for the ordering cases: `n` in `range` as payload, the odd ones numbered by the driver
/// (two-digit ids from the tenth job on), the even ones with chosen ids whose text order is the
/// reverse of their dispatch order (`y-00`, `x-02`, ...).
fn mixed_jobs(lane: &Lane, range: std::ops::Range<i64>, priority: i8) -> Vec<crate::NewJob> {
    range
        .map(|n| {
            let job = job(lane, json!({ "n": n })).priority(priority);
            if n % 2 == 0 {
                let letter = char::from(b'y' - (n / 2) as u8);
                job.id(format!("{letter}-{n:02}"))
            } else {
                job
            }
        })
        .collect()
}

/// The payload numbers of up to `max` jobs reserved from `lane`.
async fn reserved_order(driver: &Arc<dyn Driver>, lane: &Lane, max: usize) -> Vec<i64> {
    let r = driver.reserve(lane, max, LEASE).await.unwrap();
    r.jobs.iter().map(payload_n).collect()
}

/// Jobs delayed until one due time become ready in dispatch order, whatever their ids.
async fn delayed_jobs_due_together_keep_dispatch_order(driver: Arc<dyn Driver>) {
    for priority in [0, 3] {
        let lane = lane("due-order", "work");
        let delay = Duration::from_millis(200);
        let jobs = mixed_jobs(&lane, 0..24, priority)
            .into_iter()
            .map(|j| j.delay(delay))
            .collect();
        driver.enqueue(jobs).await.unwrap();
        tokio::time::sleep(delay + Duration::from_millis(50)).await;
        assert_eq!(
            reserved_order(&driver, &lane, 50).await,
            (0..24).collect::<Vec<_>>(),
            "priority {priority}"
        );
    }
}

/// Jobs retried with one retry delay, failed in dispatch order, run again in dispatch order.
async fn retried_jobs_keep_dispatch_order(driver: Arc<dyn Driver>) {
    for priority in [0, 3] {
        let lane = lane("retry-order", "work");
        driver
            .enqueue(mixed_jobs(&lane, 0..24, priority))
            .await
            .unwrap();
        let taken = driver.reserve(&lane, 50, LEASE).await.unwrap().jobs;
        assert_eq!(taken.len(), 24);
        let delay = Duration::from_millis(200);
        for j in &taken {
            let failure = Failure::retry("again", delay);
            assert!(driver.fail(&lane, &j.lease(), failure).await.unwrap());
        }
        tokio::time::sleep(delay + Duration::from_millis(50)).await;
        let again = driver.reserve(&lane, 50, LEASE).await.unwrap().jobs;
        assert!(again.iter().all(|j| j.attempt == 2));
        assert_eq!(
            again.iter().map(payload_n).collect::<Vec<_>>(),
            (0..24).collect::<Vec<_>>(),
            "priority {priority}"
        );
    }
}

/// Dispatches jobs 0 to 23 of `lane` at `priority`, leases all of them for `lease`, then
/// dispatches jobs 24 to 26 to wait behind them; returns the leased jobs.
async fn taken_with_more_waiting(
    driver: &Arc<dyn Driver>,
    lane: &Lane,
    priority: i8,
    lease: Duration,
) -> Vec<crate::ReservedJob> {
    driver
        .enqueue(mixed_jobs(lane, 0..24, priority))
        .await
        .unwrap();
    let taken = driver.reserve(lane, 50, lease).await.unwrap().jobs;
    assert_eq!(taken.len(), 24);
    driver
        .enqueue(mixed_jobs(lane, 24..27, priority))
        .await
        .unwrap();
    taken
}

/// A reaped batch goes back to the head of its lane in dispatch order, ahead of the jobs that
/// were waiting.
async fn reaped_batch_keeps_dispatch_order(driver: Arc<dyn Driver>) {
    for priority in [0, 3] {
        let lane = lane("reap-order", "work");
        taken_with_more_waiting(&driver, &lane, priority, SHORT_LEASE).await;
        tokio::time::sleep(SHORT_LEASE + Duration::from_millis(50)).await;
        assert_eq!(driver.reap(&lane).await.unwrap(), 24);
        assert_eq!(
            reserved_order(&driver, &lane, 50).await,
            (0..27).collect::<Vec<_>>(),
            "priority {priority}"
        );
    }
}

/// Jobs requeued in one call go back to the head of their lane in dispatch order, whatever
/// order the call lists them in, ahead of the jobs that were waiting.
async fn requeued_batch_keeps_dispatch_order(driver: Arc<dyn Driver>) {
    for priority in [0, 3] {
        let lane = lane("requeue-order", "work");
        let taken = taken_with_more_waiting(&driver, &lane, priority, LEASE).await;
        // Listed out of order: reversed halves.
        let mut leases: Vec<_> = taken.iter().map(|j| j.lease()).collect();
        leases[..12].reverse();
        leases[12..].reverse();
        let held = driver.requeue(&lane, &leases).await.unwrap();
        assert!(held.iter().all(|h| *h));
        assert_eq!(
            reserved_order(&driver, &lane, 50).await,
            (0..27).collect::<Vec<_>>(),
            "priority {priority}"
        );
    }
}

/// A requeue of more leases than one storage call carries (a pool of thousands stopping)
/// still puts them all back in dispatch order ahead of the jobs that were waiting, and answers
/// for each lease in the order given, a stale one included.
async fn requeue_of_thousands_keeps_dispatch_order(driver: Arc<dyn Driver>) {
    const TAKEN: i64 = 2_500;
    let lane = lane_with_jobs(&driver, "requeue-many", TAKEN).await;
    let mut taken = Vec::new();
    while taken.len() < TAKEN as usize {
        let got = driver.reserve(&lane, 1_000, LEASE).await.unwrap().jobs;
        assert!(!got.is_empty(), "{} of {TAKEN} reserved", taken.len());
        taken.extend(got);
    }
    let waiting = (TAKEN..TAKEN + 3).map(|n| job(&lane, json!({ "n": n })));
    driver.enqueue(waiting.collect()).await.unwrap();

    let mut leases: Vec<_> = taken.iter().map(|j| j.lease()).rev().collect();
    let mut stale = leases[7].clone();
    stale.token = stale.token.wrapping_add(1);
    leases.insert(1_200, stale);
    let held = driver.requeue(&lane, &leases).await.unwrap();
    assert_eq!(held.len(), leases.len());
    let refused: Vec<usize> = (0..held.len()).filter(|&i| !held[i]).collect();
    assert_eq!(refused, vec![1_200], "only the stale lease is refused");

    let mut order = Vec::new();
    while order.len() < (TAKEN + 3) as usize {
        let got = reserved_order(&driver, &lane, 1_000).await;
        assert!(
            !got.is_empty(),
            "{} of {} reserved again",
            order.len(),
            TAKEN + 3
        );
        order.extend(got);
    }
    assert_eq!(order, (0..TAKEN + 3).collect::<Vec<_>>());
}

/// A bulk dispatch of more jobs than several storage calls carry (on Redis, 1,000 jobs each),
/// two lanes of one queue interleaved and one job big enough to be stored beside its record,
/// stores every job once and each lane's jobs leave in dispatch order; what it returns follows
/// the order of the dispatch.
async fn bulk_dispatch_of_many_calls_keeps_each_lanes_order(driver: Arc<dyn Driver>) {
    const JOBS: i64 = 7_000;
    let queue = unique_queue("bulk-order");
    let (a, b) = (
        Lane::new(&queue, "a").expect("valid lane"),
        Lane::new(&queue, "b").expect("valid lane"),
    );
    // Every third job to lane b, numbered within its lane.
    let (mut na, mut nb) = (0, 0);
    let mut lanes = Vec::new();
    let jobs: Vec<crate::NewJob> = (0..JOBS)
        .map(|i| {
            if i % 3 == 2 {
                nb += 1;
                lanes.push('b');
                job(&b, json!({ "n": nb - 1 }))
            } else if na == 1_500 {
                // In lane a's second call: 10 KB, past Redis's 8 KiB default for payloads
                // stored beside their records.
                na += 1;
                lanes.push('a');
                job(&a, json!({ "n": na - 1, "filler": "x".repeat(10_000) }))
            } else {
                na += 1;
                lanes.push('a');
                job(&a, json!({ "n": na - 1 }))
            }
        })
        .collect();
    let stored = driver.enqueue(jobs).await.unwrap();
    assert_eq!(stored.len(), JOBS as usize);
    // Ids are unique within a lane.
    let mut ids = std::collections::HashSet::new();
    for (d, l) in stored.iter().zip(&lanes) {
        assert!(d.created && ids.insert((*l, d.id.clone())), "{l} {}", d.id);
    }
    for (lane, count, name) in [(&a, na, 'a'), (&b, nb, 'b')] {
        let mut order = Vec::new();
        let mut reserved_ids = Vec::new();
        while order.len() < count as usize {
            let got = driver.reserve(lane, 1_000, LEASE).await.unwrap().jobs;
            assert!(!got.is_empty(), "{} of {count} reserved", order.len());
            order.extend(got.iter().map(payload_n));
            reserved_ids.extend(got.into_iter().map(|j| j.id));
        }
        assert_eq!(order, (0..count).collect::<Vec<_>>(), "lane {name}");
        // The ids returned for this lane's jobs, in dispatch order, are the ones reserved.
        let returned: Vec<JobId> = stored
            .iter()
            .zip(&lanes)
            .filter(|(_, l)| **l == name)
            .map(|(d, _)| d.id.clone())
            .collect();
        assert_eq!(returned, reserved_ids, "lane {name}");
    }
}

/// A delay too long for any clock is taken as [`MAX_DELAY`](crate::MAX_DELAY): the job is
/// scheduled (not ready, not lost) and due then; the same for retry delays, and nothing panics.
async fn out_of_range_delays_saturate(driver: Arc<dyn Driver>) {
    let lane = lane("far", "work");
    let max = crate::MAX_DELAY;
    let near_max =
        |d: Option<Duration>| d.is_some_and(|d| d <= max && d >= max - Duration::from_secs(60));
    let id = driver
        .enqueue(vec![
            job(&lane, json!({"n": 1})).delay(Duration::from_secs(u64::MAX))
        ])
        .await
        .unwrap()[0]
        .id
        .clone();
    let r = driver.reserve(&lane, 1, LEASE).await.unwrap();
    assert!(
        r.jobs.is_empty(),
        "a job delayed by u64::MAX s is not ready"
    );
    assert!(near_max(r.next_due), "due at the max: {:?}", r.next_due);
    let info = admin(&driver)
        .job(lane.queue(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.state, JobState::Scheduled);
    let c = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!((c.scheduled, c.ready, c.active), (1, 0, 0));

    // Retry delays: through the constructor, and set past it (the driver's own limit).
    let mut raw = Failure::retry("later", Duration::ZERO);
    raw.retry_in = Some(Duration::MAX);
    for failure in [Failure::retry("later", Duration::from_secs(u64::MAX)), raw] {
        let retried = lane_with_jobs(&driver, "far-retry", 1).await;
        let taken = driver.reserve(&retried, 1, LEASE).await.unwrap().jobs;
        assert!(driver
            .fail(&retried, &taken[0].lease(), failure)
            .await
            .unwrap());
        let r = driver.reserve(&retried, 1, LEASE).await.unwrap();
        assert!(r.jobs.is_empty(), "a retry after u64::MAX s is not ready");
        assert!(near_max(r.next_due), "due at the max: {:?}", r.next_due);
        let c = admin(&driver).counts(retried.queue()).await.unwrap();
        assert_eq!((c.scheduled, c.ready, c.active), (1, 0, 0));
    }
}

/// A new lane holding `n` ready jobs.
async fn lane_with_jobs(driver: &Arc<dyn Driver>, prefix: &str, n: i64) -> Lane {
    let lane = lane(prefix, "work");
    let jobs = (0..n).map(|n| job(&lane, json!({ "n": n }))).collect();
    driver.enqueue(jobs).await.unwrap();
    lane
}
