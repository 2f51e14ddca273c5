use super::*;

#[cfg(unix)]
#[test]
fn writes_in_place_replace_a_symlink_and_leave_its_target_alone() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::write(&outside, "precious").unwrap();
    let link = dir.path().join("out.dtag");
    symlink(&outside, &link).unwrap();
    write_atomically_in_place(&link, b"new").unwrap();
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious");
    assert!(!std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "new");
    // A dangling link is replaced too, never followed to create its target.
    let dangling = dir.path().join("dangling.dtag");
    symlink(dir.path().join("nowhere/new"), &dangling).unwrap();
    write_atomically_in_place(&dangling, b"x").unwrap();
    assert!(!dir.path().join("nowhere").exists());
    assert_eq!(std::fs::read_to_string(&dangling).unwrap(), "x");
}

#[test]
fn atomic_writes_keep_mode_and_symlinks_and_never_follow_planted_links() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtag");
    std::fs::write(&model, b"old").unwrap();
    std::fs::set_permissions(&model, std::fs::Permissions::from_mode(0o600)).unwrap();
    write_atomically(&model, b"new").unwrap();
    assert_eq!(std::fs::read(&model).unwrap(), b"new");
    let mode = std::fs::metadata(&model).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // Through a symlink: the target changes, the link stays a link.
    let link = dir.path().join("link.dtag");
    symlink("m.dtag", &link).unwrap();
    write_atomically(&link, b"via link").unwrap();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&model).unwrap(), b"via link");

    // The old predictable temporary names, planted as symlinks, redirect nothing.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    for pid in std::process::id().saturating_sub(5)..std::process::id() + 5 {
        let _ = symlink(&victim, dir.path().join(format!(".m.dtag.tmp-{pid}")));
    }
    write_atomically(&model, b"again").unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    // Only the planted links and the files written remain: no temporary file.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(TEMP_MARK))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn leftovers_of_dead_processes_are_removed_and_live_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("m.dtag");
    // PID 0 is never a user process; our own PID is alive.
    let dead = dir
        .path()
        .join(format!("{}0-00000000000000aa", temp_prefix("m.dtag")));
    let live = dir.path().join(format!(
        "{}{}-00000000000000bb",
        temp_prefix("m.dtag"),
        std::process::id()
    ));
    let other = dir
        .path()
        .join(format!("{}0-00000000000000cc", temp_prefix("x")));
    for p in [&dead, &live, &other] {
        std::fs::write(p, b"partial").unwrap();
    }
    write_atomically(&target, b"model").unwrap();
    if Path::new("/proc/self").exists() {
        assert!(!dead.exists());
    }
    assert!(live.exists() && other.exists());
}

#[test]
fn a_failed_write_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sub");
    std::fs::create_dir(&target).unwrap();
    assert!(write_atomically(&target, b"x").is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn descriptor_names_are_recognised() {
    assert_eq!(descriptor_number(Path::new("/dev/stdout")), Some(1));
    assert_eq!(descriptor_number(Path::new("/proc/self/fd/1")), Some(1));
    assert_eq!(descriptor_number(Path::new("/dev/fd/2")), Some(2));
    assert_eq!(descriptor_number(Path::new("/dev/shm/x")), None);
    assert_eq!(descriptor_number(Path::new("dev/stdout")), None);
}

#[test]
fn random_suffixes_differ() {
    let a: std::collections::HashSet<u64> = (0..1000).map(|_| random_suffix()).collect();
    assert_eq!(a.len(), 1000);
}
