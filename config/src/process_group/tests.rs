use std::os::unix::process::CommandExt;

use super::*;

#[test]
fn a_group_is_ours_while_its_members_run_and_not_once_its_id_means_another_process() {
    // A shell leading its own group, with a child that outlives it.
    let mut leader = std::process::Command::new("bash")
        .args(["-c", "sleep 600 & echo $!; wait"])
        .stdout(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let group = leader.id();
    // The shell prints its child's pid once it has forked it: before that line, killing
    // the shell could leave no member behind (the race this test once lost).
    let mut child_pid = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(leader.stdout.take().unwrap()), &mut child_pid).unwrap();
    assert!(child_pid.trim().parse::<u32>().is_ok(), "the shell printed {child_pid:?}");
    let started = proc_stat(group).unwrap().started;
    assert!(group_is_ours(group, started, &processes()));
    assert!(!group_is_ours(group, started + 1, &processes()), "another start time is another process");

    // The leader is killed alone: its child still holds the group.
    assert!(
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(i32::try_from(group).unwrap()).unwrap(),
            Signal::KILL
        )
        .is_ok()
    );
    let _ = leader.wait();
    assert!(!running(group));
    assert!(group_is_ours(group, started, &processes()), "the child is a member");
    assert!(signal_group(group, Signal::KILL));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while group_is_ours(group, started, &processes()) {
        assert!(std::time::Instant::now() < deadline, "the group is still alive");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
