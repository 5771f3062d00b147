//! Poison: a job that kills its worker every time ends in the failed list after 3 lost leases
//! without looping forever; a job lost once to a crash keeps its attempts.

#[path = "../../queue-redis/tests/support/mod.rs"]
mod support;

mod harness;

use std::time::Duration;

use queue_core::JobState;
use queue_faults::{check, fault_task, Action, Ending, Expectations, Outcome, Task, QUEUE};
use support::RedisServer;

use harness::{completed, connect, in_flight_at_death, job, starts_of, Deadline, Lab, Settings};

/// Short, so each lost lease is noticed within a second.
const LEASE: Duration = Duration::from_millis(1000);
/// How many lost leases make a job poison (the default).
const MAX_LOST_LEASES: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_a_job_that_aborts_its_worker_every_time_fails_after_three_lost_leases() {
    let server = RedisServer::start();
    let lab = Lab::new("poison-abort");
    let queue = connect(&server.url()).await;

    // More attempts than lost leases allowed: only the lost-lease count can fail it.
    let poison = queue
        .dispatch(
            fault_task::job(Task {
                ms: 0,
                action: Action::Abort,
            })
            .attempts(5),
        )
        .await
        .expect("dispatch the poison job")
        .id
        .to_string();
    let behind: Vec<String> = queue
        .dispatch_bulk((0..5).map(|_| fault_task::job(Task::sleep(20))))
        .await
        .expect("dispatch")
        .into_iter()
        .map(|d| d.id.to_string())
        .collect();

    // One job at a time; the worker is restarted each time the poison job kills it.
    let settings = Settings::new(LEASE, 1);
    let mut worker = lab.spawn(&server.url(), settings);
    let mut deaths = 0;
    let mut in_flight = vec![poison.clone()];
    let deadline = Deadline::after(Duration::from_secs(40), "the poison job to be failed");
    loop {
        let runs = poison_runs(&lab, &poison);
        assert!(
            runs <= MAX_LOST_LEASES,
            "the poison job ran {runs} times: {MAX_LOST_LEASES} lost leases did not fail it as \
             poison (job: {:?})\n{}",
            job(&queue, &poison).await,
            lab.history_text()
        );
        let info = job(&queue, &poison)
            .await
            .expect("the poison job is never acked or deleted");
        if info.state == JobState::Failed {
            break;
        }
        if worker.exited() {
            deaths += 1;
            in_flight.extend(in_flight_at_death(&queue, &lab.events(), worker.pid()).await);
            worker = lab.spawn(&server.url(), settings);
        }
        deadline.check(|| format!("{info:?}\n{}", lab.history_text()));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(deaths, MAX_LOST_LEASES, "each run killed a worker");

    // It is listed as failed as poison, and no attempt was spent on the lost leases.
    let info = job(&queue, &poison).await.expect("the failed job is kept");
    let failed = queue.failed(QUEUE, 0, 100).await.expect("list failed jobs");
    assert!(
        failed.iter().any(|j| j.id.as_str() == poison),
        "the poison job is in the failed list"
    );
    assert_eq!(info.lost_leases, MAX_LOST_LEASES as u32, "{info:?}");
    assert_eq!(info.attempts, 0, "no handler attempt ended: {info:?}");
    let error = info.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("poison") && error.contains("lease"),
        "the failure says the job is poison and names the lost leases: {error:?}"
    );
    let attempts: Vec<u32> = lab
        .events()
        .iter()
        .filter_map(|e| match e {
            queue_faults::Event::Start { id, attempt, .. } if *id == poison => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(
        attempts,
        [1, 1, 1],
        "a lost lease is not a handler attempt: every run is attempt 1"
    );

    // The jobs behind it run; then the history holds.
    let deadline = Deadline::after(Duration::from_secs(20), "the other jobs to complete");
    loop {
        let counts = queue.counts(QUEUE).await.expect("counts");
        let done = completed(&lab.events());
        if counts.pending() == 0 && behind.iter().all(|id| done.contains(id)) {
            assert_eq!(counts.failed, 1, "only the poison job failed: {counts:?}");
            break;
        }
        deadline.check(|| format!("{counts:?}\n{}", lab.history_text()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.kill();
    let dispatched = behind.iter().cloned().chain([poison.clone()]);
    let report = check(
        &lab.events(),
        &Expectations::new(dispatched)
            .unfinished([poison.clone()])
            .in_flight(in_flight),
    );
    report.assert_clean();
    assert!(
        report.runs_of(&poison).all(|r| r.ending == Ending::Died),
        "every run of the poison job took its process down: {report}"
    );
}

/// How many runs of `id` started.
fn poison_runs(lab: &Lab, id: &str) -> usize {
    lab.events()
        .iter()
        .filter(|e| matches!(e, queue_faults::Event::Start { id: i, .. } if i == id))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_a_job_that_succeeded_right_before_a_sigkill_runs_again_on_an_unspent_attempt() {
    let server = RedisServer::start();
    let lab = Lab::new("poison-kill");
    let queue = connect(&server.url()).await;

    // One attempt only: if the lost lease spent it, the job would be failed.
    let id = queue
        .dispatch(
            fault_task::job(Task {
                ms: 50,
                action: Action::SucceedThenKill,
            })
            .attempts(1),
        )
        .await
        .expect("dispatch")
        .id
        .to_string();

    let mut first = lab.spawn(
        &server.url(),
        Settings {
            kill_after_success: true,
            ..Settings::new(LEASE, 1)
        },
    );
    first.wait_for_death(Duration::from_secs(20));
    // The handler succeeded...
    let ends: Vec<(u32, Outcome)> = lab
        .events()
        .iter()
        .filter_map(|e| match e {
            queue_faults::Event::End {
                id: i,
                pid,
                outcome,
                ..
            } if *i == id => Some((*pid, *outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ends,
        [(first.pid(), Outcome::Ok)],
        "the first run succeeded"
    );
    // ...and its ack never reached storage: the job is still leased to the dead worker.
    let info = job(&queue, &id)
        .await
        .expect("the job is still stored: no ack was sent");
    assert_eq!(info.state, JobState::Active, "{info:?}");

    let mut second = lab.spawn(&server.url(), Settings::new(LEASE, 1));
    let deadline = Deadline::after(Duration::from_secs(20), "the job to run again");
    loop {
        // Gone from storage: acked.
        let Some(info) = job(&queue, &id).await else {
            break;
        };
        assert_ne!(
            info.state,
            JobState::Failed,
            "the job was failed ({:?}): a lease lost to a crash spent its only attempt",
            info.last_error
        );
        deadline.check(|| format!("{info:?}\n{}", lab.history_text()));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    second.kill();

    let report = check(
        &lab.events(),
        &Expectations::new([id.clone()]).in_flight([id.clone()]),
    );
    report.assert_clean();
    let again: Vec<_> = starts_of(&lab.events(), second.pid());
    assert_eq!(
        again
            .iter()
            .map(|(i, a, _)| (i.as_str(), *a))
            .collect::<Vec<_>>(),
        [(id.as_str(), 1)],
        "the job ran again as attempt 1: the crash spent no attempt"
    );
    assert!(report
        .runs_of(&id)
        .any(|r| r.pid == second.pid() && r.completed()));
}
