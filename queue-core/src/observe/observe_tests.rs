//! Runs that ended together reach the recorder whole: one run-time sample per run, whatever its
//! outcome, each with its own run's time, and the successes counted.

use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::*;

/// The value of the series whose rendered line starts with `series`.
fn value(handle: &PrometheusHandle, series: &str) -> Option<f64> {
    handle
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn runs_ending_together_are_timed_one_sample_each() {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&[0.5, 1.5, 2.5, 10.0])
        .expect("valid buckets")
        .build_recorder();
    let handle = recorder.handle();
    let lane = Lane::new("timed", "job").expect("a valid lane");
    let mut observer = Observer::new(16);
    observer.metrics = true;
    // The lane's handles are registered with this recorder, and record into it from then on.
    let lane_observer = ::metrics::with_local_recorder(&recorder, || observer.lane(&lane));
    let now = Instant::now();
    let ago = |seconds| now - Duration::from_secs(seconds);
    let id = JobId::from("1".to_string());
    let mut ended = lane_observer.ending(6, now);
    // Two runs of 2 s, one of 1 s, a failure of 2 s between them, then 2 s and 5 s.
    for (started, ending) in [
        (ago(2), Ending::Completed),
        (ago(2), Ending::Completed),
        (ago(1), Ending::Completed),
        (
            ago(2),
            Ending::Retrying {
                error: "again",
                retry_in: Duration::from_secs(1),
            },
        ),
        (ago(2), Ending::Completed),
        (ago(5), Ending::Completed),
    ] {
        lane_observer.run_ended(&mut ended, &id, 1, started, ending);
    }
    lane_observer.send(&lane, ended);

    let series = |name: &str, le: Option<&str>| match le {
        Some(le) => format!(r#"{name}{{queue="timed",job="job",le="{le}"}}"#),
        None => format!(r#"{name}{{queue="timed",job="job"}}"#),
    };
    assert_eq!(
        value(&handle, &series("queue_jobs_completed_total", None)),
        Some(5.0)
    );
    assert_eq!(
        value(&handle, &series("queue_job_run_seconds_count", None)),
        Some(6.0),
        "one sample per run, the retried one's too"
    );
    assert_eq!(
        value(&handle, &series("queue_job_run_seconds_sum", None)),
        Some(2.0 + 2.0 + 1.0 + 2.0 + 2.0 + 5.0)
    );
    let buckets = ["0.5", "1.5", "2.5", "10"].map(|le| {
        value(&handle, &series("queue_job_run_seconds_bucket", Some(le)))
            .unwrap_or_else(|| panic!("bucket {le} in:\n{}", handle.render()))
    });
    assert_eq!(buckets, [0.0, 1.0, 5.0, 6.0]);
}
