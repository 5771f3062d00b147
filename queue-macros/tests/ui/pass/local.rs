#![deny(warnings)]

use queue_core::JobError;

fn main() {
    // A handler inside a function body, with a payload type visible from the module.
    #[queue_core::job(name = "local_handler")]
    async fn local(n: u64) -> Result<(), JobError> {
        let _ = n;
        Ok(())
    }

    let _ = local::job(5);
    assert_eq!(local::NAME, "local_handler");
}
