//! The pipeline's steps, shared by the programs: fetch an image, resize it, publish the sizes.
//! Each run prints `ran <step> <attempt>`; `PIPELINE_STEP_MS` makes each resize take that long
//! (the fault tests kill a worker meanwhile).

use std::time::Duration;

use queue_core::{job, JobContext, JobError, Workflow};
use serde::{Deserialize, Serialize};

/// Where to fetch the image from.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Fetch {
    /// The image's address.
    pub(crate) url: String,
}

/// A fetched image (its size stands for its bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Image {
    /// Where it came from.
    pub(crate) url: String,
    /// Its width in pixels.
    pub(crate) width: u32,
}

/// One size to make.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Resize {
    /// The width to scale to.
    pub(crate) width: u32,
}

fn step_ms() -> u64 {
    std::env::var("PIPELINE_STEP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn ran(ctx: &JobContext) {
    let step = ctx
        .workflow_step()
        .map(|(_, s)| s.to_string())
        .unwrap_or_default();
    println!("ran {step} {}", ctx.attempt());
}

/// Fetches the image (made up here).
#[job(queue = "images", attempts = 3)]
pub(crate) async fn fetch(fetch: Fetch, ctx: JobContext) -> Result<Image, JobError> {
    ran(&ctx);
    Ok(Image {
        url: fetch.url,
        width: 4000,
    })
}

/// Resizes the image `fetch` returned, read typed through the context.
#[job(queue = "images", attempts = 3, timeout = "60s")]
pub(crate) async fn resize(resize: Resize, ctx: JobContext) -> Result<Image, JobError> {
    ran(&ctx);
    let image: Image = ctx
        .result_of("fetch")
        .await
        .map_err(JobError::retry)?
        .ok_or_else(|| JobError::fatal("`fetch` left no image"))?;
    tokio::time::sleep(Duration::from_millis(step_ms())).await;
    Ok(Image {
        url: format!("{}?w={}", image.url, resize.width),
        width: resize.width,
    })
}

/// Publishes every resized image: the results of `resize-1`, `resize-2` and `resize-3`.
#[job(queue = "images", attempts = 3)]
pub(crate) async fn publish(count: u32, ctx: JobContext) -> Result<Vec<String>, JobError> {
    ran(&ctx);
    let mut urls = Vec::new();
    for i in 1..=count {
        let image: Option<Image> = ctx
            .result_of(&format!("resize-{i}"))
            .await
            .map_err(JobError::retry)?;
        urls.push(image.map(|i| i.url).unwrap_or_else(|| "(missing)".into()));
    }
    Ok(urls)
}

/// The workflow: fetch -> resize x3 -> publish.
pub(crate) fn pipeline(url: &str) -> Workflow {
    Workflow::new()
        .step("fetch", fetch::job(Fetch { url: url.into() }))
        .step_after("resize-1", &["fetch"], resize::job(Resize { width: 160 }))
        .step_after("resize-2", &["fetch"], resize::job(Resize { width: 640 }))
        .step_after("resize-3", &["fetch"], resize::job(Resize { width: 1280 }))
        .step_after(
            "publish",
            &["resize-1", "resize-2", "resize-3"],
            publish::job(3),
        )
}
