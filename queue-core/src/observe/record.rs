//! The stored form of an [`Event`]: what an [`EventLog`](crate::EventLog) keeps and what
//! `queue events --json` prints. Plain fields (times as Unix milliseconds, durations as
//! milliseconds), so that programs in other languages can read a log too.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::job::{from_unix_ms, unix_ms, JobId, Lane};
use crate::observe::events::{Event, EventKind};

/// An [`Event`] as stored in an event log: [`Event::to_record`] makes one, [`Event::from_record`]
/// checks one back into an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventRecord {
    /// What happened.
    pub kind: EventKind,
    /// The job's id.
    pub id: String,
    /// The job's queue.
    pub queue: String,
    /// The job's name.
    pub job: String,
    /// The run's number, from 1 (0 for a dispatch).
    pub attempt: u32,
    /// How long the run took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The run's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// In how many milliseconds the job runs again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
    /// The progress value reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<serde_json::Value>,
    /// When it happened, in Unix milliseconds by the clock of the process that saw it.
    pub at_ms: u64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Event {
    /// The event's stored form.
    pub fn to_record(&self) -> EventRecord {
        EventRecord {
            kind: self.kind,
            id: self.id.as_str().to_string(),
            queue: self.lane.queue().to_string(),
            job: self.lane.job().to_string(),
            attempt: self.attempt,
            duration_ms: self.duration.map(millis),
            error: self.error.clone(),
            retry_in_ms: self.retry_in.map(millis),
            progress: self.progress.clone(),
            at_ms: unix_ms(self.at),
        }
    }

    /// The event a stored record describes; a record whose queue or job name is not valid is
    /// an [`Error::Storage`] naming it.
    pub fn from_record(record: EventRecord) -> Result<Event> {
        let lane = Lane::new(&record.queue, &record.job).map_err(|e| Error::Storage {
            source: format!("stored event names an invalid lane: {e}").into(),
        })?;
        Ok(Event {
            kind: record.kind,
            id: JobId::from(record.id),
            lane,
            attempt: record.attempt,
            duration: record.duration_ms.map(Duration::from_millis),
            error: record.error,
            retry_in: record.retry_in_ms.map(Duration::from_millis),
            progress: record.progress,
            at: from_unix_ms(record.at_ms),
        })
    }

    /// The event as the JSON bytes of its [`EventRecord`], for drivers to store.
    pub fn encode(&self) -> Vec<u8> {
        // A record of strings, numbers and a JSON value always serializes.
        serde_json::to_vec(&self.to_record()).unwrap_or_default()
    }

    /// Reads back what [`Event::encode`] made; anything else is an [`Error::Storage`] saying
    /// what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Event> {
        let record: EventRecord = serde_json::from_slice(bytes).map_err(|e| Error::Storage {
            source: format!("stored event does not decode: {e}").into(),
        })?;
        Event::from_record(record)
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn an_event_survives_its_stored_form() {
        let event = Event {
            kind: EventKind::Retrying,
            id: JobId::from("job-7"),
            lane: Lane::new("mail", "send_welcome").unwrap(),
            attempt: 2,
            duration: Some(Duration::from_millis(1500)),
            error: Some("smtp down".into()),
            retry_in: Some(Duration::from_secs(4)),
            progress: None,
            at: from_unix_ms(unix_ms(SystemTime::now())),
        };
        let back = Event::decode(&event.encode()).unwrap();
        assert_eq!(back.to_record(), event.to_record());
        assert_eq!(back.at, event.at);
        assert_eq!(back.duration, event.duration);
        let json: serde_json::Value = serde_json::from_slice(&event.encode()).unwrap();
        assert_eq!(json["kind"], "retrying");
        assert_eq!(json["retry_in_ms"], 4000);
        assert!(json.get("progress").is_none());
    }

    #[test]
    fn bad_stored_events_are_errors() {
        let err = Event::decode(br#"{"kind":"nope"}"#).unwrap_err();
        assert!(err.to_string().contains("does not decode"), "{err}");
        let bad_lane =
            br#"{"kind":"completed","id":"1","queue":"","job":"j","attempt":1,"at_ms":0}"#;
        let err = Event::decode(bad_lane).unwrap_err();
        assert!(err.to_string().contains("invalid lane"), "{err}");
    }
}
