use queue_core::job;

#[job]
pub async fn send(_: u32) -> u32 {
    0
}

fn main() {}
