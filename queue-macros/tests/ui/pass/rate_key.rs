#![deny(warnings)]

use queue_core::{job, JobError};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Call {
    #[serde(rename = "tenantId")]
    tenant: String,
    shard: u32,
}

pub mod keys {
    pub fn region(call: &super::Call) -> String {
        format!("{}-{}", call.tenant, call.shard % 2)
    }
}

#[job(rate = "10/1s", rate_key = "tenant")]
pub async fn by_tenant(_: Call) -> Result<(), JobError> {
    Ok(())
}

#[job(global_concurrency = 2, rate_key = "shard")]
pub async fn by_shard(_: Call) -> Result<(), JobError> {
    Ok(())
}

#[job(rate = "5/1s", rate_key = keys::region)]
pub async fn by_region(_: Call) -> Result<(), JobError> {
    Ok(())
}

fn call() -> Call {
    Call {
        tenant: "acme".into(),
        shard: 7,
    }
}

fn main() {
    assert!(by_tenant::DEFINITION.limits.keyed);
    assert_eq!(by_tenant::job(call()).spec().key, Some("acme"));
    assert_eq!(by_shard::job(call()).spec().key, Some("7"));
    assert_eq!(by_region::job(call()).spec().key, Some("acme-1"));
    // By name: the same key, computed from the JSON (serde's names apply).
    let named = queue_core::NewJob::named("by_tenant", r#"{"tenantId":"globex","shard":1}"#);
    assert_eq!(named.spec().key, Some("globex"));
}
