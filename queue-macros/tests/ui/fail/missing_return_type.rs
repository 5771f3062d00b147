use queue_core::job;

#[job]
pub async fn send(_: u32) {}

fn main() {}
