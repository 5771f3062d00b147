use queue_core::job;

#[job]
pub struct Welcome;

fn main() {}
