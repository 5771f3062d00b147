//! The example program runs its workflow to the end on the memory driver.

use std::process::Command;

#[test]
fn pipeline_runs_on_memory_by_default() {
    let output = Command::new(env!("CARGO_BIN_EXE_example-pipeline"))
        .env_remove("QUEUE_URL")
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for step in ["fetch", "resize-1", "resize-2", "resize-3", "publish"] {
        let line = format!("ran {step} 1");
        assert_eq!(
            stdout.matches(&line).count(),
            1,
            "`{line}` once in:\n{stdout}"
        );
    }
    // publish ran after every resize.
    let publish = stdout.find("ran publish").unwrap();
    for i in 1..=3 {
        assert!(stdout.find(&format!("ran resize-{i}")).unwrap() < publish);
    }
    for width in [160, 640, 1280] {
        assert!(
            stdout.contains(&format!("published https://example.com/cat.png?w={width}")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("workflow Succeeded: 5 of 5 steps succeeded"),
        "{stdout}"
    );
}
