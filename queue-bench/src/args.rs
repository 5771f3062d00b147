//! Command-line flags.

use std::path::PathBuf;

/// What `--help` prints.
const USAGE: &str = "\
usage: queue-bench [--jobs N] [--latency-jobs N] [--driver memory|redis|all]
                   [--redis-url URL] [--scaling-max N] [--json PATH] [--observe]
                   [--rtt MS,MS,...] [--payloads] [--only limited]
                   [--driver-options PARAMS] [--payload-text letters|words]

  --jobs N          jobs per throughput phase (default 100000)
  --latency-jobs N  idle latency samples; a fifth of it (at least 20) delayed jobs (default 1000)
  --driver D        memory, redis or all (default all)
  --redis-url URL   use this Redis instead of starting redis-server on a free port
                    (the harness purges its queues, which live under the prefix `bench`,
                    and runs redis-benchmark on keys `bench:baseline:*` before and after)
  --scaling-max N   largest backlog of the scaling phases: 10k, 100k, 1M ready jobs up to N,
                    then 100k ready (at most N) beside N delayed ones (default 1000000; 0 skips)
  --json PATH       also write every measurement to PATH as JSON
  --observe         then measure each driver again with observation on (events with a
                    subscriber, metrics into a Prometheus recorder with the metrics example's
                    buckets, its samples bucketed within the phase that recorded them, a
                    tracing subscriber at info formatting every span and event, the last
                    1,000 completed jobs kept); its rows say `+observed`, and a table gives each
                    observed per-job CPU as a share of the bare run's (target ≤ 125%)
  --payloads        Redis only: jobs of 1 KB, 10 KB, 100 KB and 1 MB (256 MB of each, within
                    --jobs) in MB/s, beside redis-benchmark SET and GET of that size
  --rtt LIST        Redis only: drain and end to end again through a proxy adding each round
                    trip of the comma-separated list, in ms (e.g. 0,0.5,1,2; default none);
                    three rounds over the list, each figure the median of its rounds and
                    each share of the 0 ms figure the median of the rounds' shares
  --payload-text T  the big-payload phase's text: `letters` (one letter repeated, as
                    redis-benchmark sends; default) or `words` (records of words and
                    numbers, compressing like typical data: for `compress=lz4`)
  --driver-options PARAMS
                    Redis only: parameters added to the driver's URL (not the baseline's),
                    e.g. `compress=lz4` or `large_payload=0` (payloads kept in the records)
  --only limited    run only the rate-limited phase on each driver (60,000 jobs limited to
                    20,000 starts per 1 s, two workers; the window check reads the starts the
                    storage assigned), without the Redis baseline; --jobs, --latency-jobs and
                    --scaling-max do not apply, --observe, --payloads and --rtt are refused
";

/// The flags that take a value.
const FLAGS: [&str; 10] = [
    "--jobs",
    "--latency-jobs",
    "--driver",
    "--redis-url",
    "--scaling-max",
    "--json",
    "--rtt",
    "--only",
    "--driver-options",
    "--payload-text",
];

/// A phase that `--only` runs alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Only {
    /// The rate-limited phase ([`limited`](crate::limited)).
    Limited,
}

/// The parsed flags.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    /// Jobs per throughput phase (bulk enqueue, one by one, drain, end to end).
    pub(crate) jobs: u64,
    /// Jobs of the idle latency phase; a fifth of it (at least 20) are delayed jobs.
    pub(crate) latency_jobs: u64,
    /// A Redis to use instead of an own redis-server.
    pub(crate) redis_url: Option<String>,
    /// Run the memory driver.
    pub(crate) memory: bool,
    /// Run the Redis driver.
    pub(crate) redis: bool,
    /// The largest backlog of the scaling phases; 0 skips them.
    pub(crate) scaling_max: u64,
    /// Where to write the JSON report.
    pub(crate) json: Option<PathBuf>,
    /// Measure each driver again with observation on.
    pub(crate) observe: bool,
    /// Run the big-payload phase (Redis only).
    pub(crate) payloads: bool,
    /// Round trips of the network phases (Redis only; empty skips them).
    pub(crate) round_trips: Vec<std::time::Duration>,
    /// Run only this phase (`--only`).
    pub(crate) only: Option<Only>,
    /// Parameters added to the Redis driver's URL (`--driver-options`).
    pub(crate) driver_options: Option<String>,
    /// What the big-payload phase's payloads are made of (`--payload-text`).
    pub(crate) payload_text: PayloadText,
}

/// The text of the big-payload phase's payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum PayloadText {
    /// One letter over and over (what `redis-benchmark -d` sends); compresses to almost nothing.
    #[default]
    Letters,
    /// Records of words and numbers drawn from a fixed seed, compressing about as much as
    /// typical application data.
    Words,
}

impl Args {
    /// Parses the process's arguments; prints the usage and exits on `--help` or a bad flag.
    pub(crate) fn parse() -> Self {
        match Self::parse_from(std::env::args().skip(1)) {
            Ok(args) => args,
            Err(None) => {
                print!("{USAGE}");
                std::process::exit(0)
            }
            Err(Some(message)) => {
                eprint!("queue-bench: {message}\n{USAGE}");
                std::process::exit(2)
            }
        }
    }

    /// Parses flags; `Err(None)` means help was asked for, `Err(Some(_))` says what is wrong.
    fn parse_from(flags: impl Iterator<Item = String>) -> Result<Self, Option<String>> {
        let mut args = Args {
            jobs: 100_000,
            latency_jobs: 1_000,
            redis_url: None,
            memory: true,
            redis: true,
            scaling_max: 1_000_000,
            json: None,
            observe: false,
            round_trips: Vec::new(),
            payloads: false,
            only: None,
            driver_options: None,
            payload_text: PayloadText::default(),
        };
        let mut flags = flags;
        while let Some(flag) = flags.next() {
            if flag == "--help" || flag == "-h" {
                return Err(None);
            }
            if flag == "--observe" {
                args.observe = true;
                continue;
            }
            if flag == "--payloads" {
                args.payloads = true;
                continue;
            }
            if !FLAGS.contains(&flag.as_str()) {
                return Err(Some(format!("unknown flag {flag}")));
            }
            let value = flags
                .next()
                .ok_or_else(|| Some(format!("{flag} needs a value")))?;
            let number = |value: &str| {
                value
                    .replace('_', "")
                    .parse::<u64>()
                    .map_err(|_| Some(format!("{flag} needs a number, not `{value}`")))
            };
            match flag.as_str() {
                "--jobs" => args.jobs = number(&value)?.max(1),
                "--latency-jobs" => args.latency_jobs = number(&value)?.max(1),
                "--scaling-max" => args.scaling_max = number(&value)?,
                "--redis-url" => args.redis_url = Some(value),
                "--json" => args.json = Some(value.into()),
                "--rtt" => args.round_trips = round_trips(&value)?,
                "--driver-options" => args.driver_options = Some(value),
                "--payload-text" => {
                    args.payload_text = match value.as_str() {
                        "letters" => PayloadText::Letters,
                        "words" => PayloadText::Words,
                        other => {
                            return Err(Some(format!(
                                "--payload-text takes `letters` or `words`, not `{other}`"
                            )))
                        }
                    }
                }
                "--only" => {
                    args.only = match value.as_str() {
                        "limited" => Some(Only::Limited),
                        other => {
                            return Err(Some(format!(
                                "--only takes `limited` (the rate-limited phase), not `{other}`"
                            )))
                        }
                    }
                }
                "--driver" => {
                    (args.memory, args.redis) = match value.as_str() {
                        "memory" => (true, false),
                        "redis" => (false, true),
                        "all" => (true, true),
                        other => {
                            return Err(Some(format!(
                                "--driver is memory, redis or all, not `{other}`"
                            )))
                        }
                    }
                }
                _ => unreachable!("{flag} is in FLAGS"),
            }
        }
        if args.only.is_some() {
            let extra = [
                (args.observe, "--observe"),
                (args.payloads, "--payloads"),
                (!args.round_trips.is_empty(), "--rtt"),
            ];
            if let Some((_, flag)) = extra.iter().find(|(given, _)| *given) {
                return Err(Some(format!(
                    "--only limited runs the rate-limited phase alone; {flag} is another phase"
                )));
            }
        }
        Ok(args)
    }

    /// The ready-job backlogs of the scaling phases: 10k, 100k and 1M up to `--scaling-max`
    /// (just `--scaling-max` when it is below 10k).
    pub(crate) fn scaling_backlogs(&self) -> Vec<u64> {
        if self.scaling_max == 0 {
            return Vec::new();
        }
        let sizes: Vec<u64> = [10_000, 100_000, 1_000_000]
            .into_iter()
            .filter(|&n| n <= self.scaling_max)
            .collect();
        if sizes.is_empty() {
            vec![self.scaling_max]
        } else {
            sizes
        }
    }

    /// The delayed-backlog phase: (ready jobs drained, delayed jobs pending beside them).
    pub(crate) fn scaling_delayed(&self) -> Option<(u64, u64)> {
        (self.scaling_max > 0).then(|| (self.scaling_max.min(100_000), self.scaling_max))
    }
}

/// `0,0.5,1` as round trips in milliseconds.
fn round_trips(list: &str) -> Result<Vec<std::time::Duration>, Option<String>> {
    list.split(',')
        .map(|ms| {
            ms.trim()
                .parse::<f64>()
                .ok()
                .filter(|ms| ms.is_finite() && *ms >= 0.0 && *ms <= 1_000.0)
                .map(|ms| std::time::Duration::from_secs_f64(ms / 1e3))
                .ok_or_else(|| {
                    Some(format!(
                        "--rtt takes round trips in ms between 0 and 1000, like 0,0.5,1; not `{ms}`"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses flags given as one string.
    fn parse(flags: &str) -> Result<Args, Option<String>> {
        Args::parse_from(flags.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults_and_flags() {
        let a = parse("").unwrap();
        assert_eq!((a.jobs, a.scaling_max), (100_000, 1_000_000));
        assert_eq!(a.scaling_backlogs(), [10_000, 100_000, 1_000_000]);
        assert_eq!(a.scaling_delayed(), Some((100_000, 1_000_000)));
        let a = parse("--jobs 20_000 --scaling-max 100000 --driver redis --json x.json").unwrap();
        assert_eq!((a.jobs, a.memory, a.redis), (20_000, false, true));
        assert_eq!(a.scaling_backlogs(), [10_000, 100_000]);
        assert_eq!(a.scaling_delayed(), Some((100_000, 100_000)));
        assert_eq!(
            parse("--scaling-max 5000").unwrap().scaling_backlogs(),
            [5000]
        );
        assert!(parse("--scaling-max 0")
            .unwrap()
            .scaling_delayed()
            .is_none());
        assert!(parse("--help").unwrap_err().is_none());
        assert!(parse("--jobs").unwrap_err().is_some());
        assert!(parse("--driver mysql").unwrap_err().is_some());
        assert_eq!(
            parse("--rtt 0,0.5,2").unwrap().round_trips,
            [0, 500, 2000].map(std::time::Duration::from_micros)
        );
        assert!(parse("--rtt 1,fast").unwrap_err().is_some());
        assert!(parse("--rtt -1").unwrap_err().is_some());
        assert_eq!(
            parse("--bogus").unwrap_err().unwrap(),
            "unknown flag --bogus"
        );
        let a = parse("--driver redis --only limited").unwrap();
        assert_eq!(
            (a.only, a.memory, a.redis),
            (Some(Only::Limited), false, true)
        );
        assert_eq!(parse("").unwrap().only, None);
        assert!(parse("--only drain")
            .unwrap_err()
            .unwrap()
            .contains("not `drain`"));
        assert!(parse("--only limited --observe")
            .unwrap_err()
            .unwrap()
            .contains("--observe"));
    }

    #[test]
    fn payload_text_is_letters_unless_words_are_asked_for() {
        assert_eq!(parse("").unwrap().payload_text, PayloadText::Letters);
        assert_eq!(
            parse("--payloads --payload-text words")
                .unwrap()
                .payload_text,
            PayloadText::Words
        );
        assert!(parse("--payload-text json")
            .unwrap_err()
            .unwrap()
            .contains("not `json`"));
    }
}
