use std::os::unix::process::{CommandExt, ExitStatusExt};

use super::*;

#[tokio::test]
async fn a_recorded_group_left_running_is_stopped_and_a_reused_pid_is_not_taken_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let mut child = std::process::Command::new("sleep").arg("600").process_group(0).spawn().unwrap();
    let group = child.id();
    ledger.record(group);
    let started = proc_stat(group).unwrap().started;
    assert!(group_is_ours(group, started, &processes()));
    assert!(!group_is_ours(group, started + 1, &processes()), "another start time is another process");

    assert_eq!(ledger.stop_leftovers(Duration::from_secs(5)).await, 1);
    assert_eq!(child.wait().unwrap().signal(), Some(15), "stopped with SIGTERM");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the ledger is emptied");
    assert_eq!(ledger.stop_leftovers(Duration::from_secs(5)).await, 0);
}
