#![deny(warnings)]

// Types written relative to the handler's module, and types named like the generated items.
use queue_core::{job, JobError};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Payload {
    pub n: u32,
}

pub mod job {
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct Inside(pub u32);
}

#[job]
pub async fn named_payload(_: Payload) -> Result<(), JobError> {
    Ok(())
}

#[job]
pub async fn self_payload(_: self::Payload) -> Result<(), JobError> {
    Ok(())
}

#[job]
pub async fn module_named_job(_: job::Inside) -> Result<(), JobError> {
    Ok(())
}

#[job]
pub async fn nested_generics(_: Vec<(self::Payload, Option<job::Inside>)>) -> Result<(), JobError> {
    Ok(())
}

pub mod child {
    use queue_core::{job, JobError};

    #[job]
    pub async fn super_payload(_: super::Payload) -> Result<(), JobError> {
        Ok(())
    }
}

#[job]
pub async fn r#match(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {
    let _: named_payload::Payload = Payload { n: 1 };
    let _ = self_payload::job(Payload { n: 2 });
    let _ = module_named_job::job(job::Inside(3));
    let _ = nested_generics::job(vec![(Payload { n: 4 }, None)]);
    let _ = child::super_payload::job(Payload { n: 5 });
    assert_eq!(r#match::NAME, "match");
    assert!(r#match::DEFINITION.handler.ends_with("::r#match"));
}
