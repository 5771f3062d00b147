use queue_core::job;

pub struct Opaque;

#[job]
pub async fn send(_: u32) -> Result<(), Opaque> {
    Ok(())
}

fn main() {}
