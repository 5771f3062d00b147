//! Partitions: a busy worker process cut off from Redis (its connections kept open, nothing
//! answered) for longer than its lease, while a second worker process takes its jobs over.

#[path = "../../queue-redis/tests/support/mod.rs"]
mod support;

mod harness;

use std::collections::BTreeSet;
use std::time::Duration;

use queue_faults::{check, fault_task, Ending, Expectations, Outcome, Task};
use support::proxy::FaultProxy;
use support::RedisServer;

use harness::{completed, connect, starts_of, until_drained, Deadline, Lab, Settings};

/// The worker cancels a run it cannot confirm at its last confirmed renewal's send time + lease
/// - a tenth of the lease (`WorkerBuilder::lease`), so 200 ms before the server's deadline.
const LEASE: Duration = Duration::from_millis(2000);
/// Longer than the lease: a run the cut-off worker does not cancel is still going when the
/// other worker takes the job.
const RUN_MS: u64 = 3000;
const JOBS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_longer_than_the_lease_hands_running_jobs_over_without_overlapping_runs() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let lab = Lab::new("partition");
    let queue = connect(&server.url()).await;

    let ids: Vec<String> = queue
        .dispatch_bulk((0..JOBS).map(|_| fault_task::job(Task::sleep(RUN_MS))))
        .await
        .expect("dispatch")
        .into_iter()
        .map(|d| d.id.to_string())
        .collect();

    // The first worker reaches Redis through the proxy and takes every job.
    let mut cut = lab.spawn(&proxy.url(), Settings::new(LEASE, JOBS));
    let deadline = Deadline::after(
        Duration::from_secs(20),
        "the first worker to start every job",
    );
    while starts_of(&lab.events(), cut.pid()).len() < JOBS {
        deadline.check(|| lab.history_text());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let running: BTreeSet<String> = starts_of(&lab.events(), cut.pid())
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();

    // Cut it off while its jobs run; a second worker, connected directly, starts meanwhile
    // and takes the jobs once their leases expire on the server.
    proxy.partition();
    let mut direct = lab.spawn(&server.url(), Settings::new(LEASE, JOBS));
    let deadline = Deadline::after(Duration::from_secs(30), "every job to complete");
    loop {
        let done = completed(&lab.events());
        if ids.iter().all(|id| done.contains(id)) {
            break;
        }
        deadline.check(|| lab.history_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Heal: whatever the cut-off worker sent meanwhile arrives now, with stale tokens.
    proxy.heal();
    until_drained(&queue, Duration::from_secs(30)).await;
    cut.kill();
    direct.kill();

    let events = lab.events();
    let report = check(&events, &Expectations::new(&ids).in_flight(&running));
    report.assert_clean();

    // The takeover happened: the second worker completed every job.
    for id in &ids {
        assert!(
            report
                .runs_of(id)
                .any(|r| r.pid == direct.pid() && r.completed()),
            "job {id} was not taken over by the connected worker: {report}"
        );
    }
    // The cut-off worker cancelled each run by its own clock, within one lease of its last
    // confirmation: the reservation (before the start) or, if one got through before the cut,
    // the renewal one renewal period later.
    for run in report.runs().iter().filter(|r| r.pid == cut.pid()) {
        assert_eq!(
            run.ending,
            Ending::Recorded(Outcome::Cancelled),
            "the cut-off worker cancelled its run of {}: {report}",
            run.id
        );
        assert!(
            run.end <= run.start + (LEASE + LEASE / 3).as_micros() as u64,
            "the cut-off worker's run of {} went on past its lease: {}",
            run.id,
            report
        );
    }
}
