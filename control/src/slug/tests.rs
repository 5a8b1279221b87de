use super::*;

#[test]
fn procfiles_parse_and_errors_name_the_line() {
    let types = parse_procfile("# comment\n\nweb: python3 -m http.server $PORT\nworker:  ./run --x=1:2 \n").unwrap();
    assert_eq!(types["web"], "python3 -m http.server $PORT");
    assert_eq!(types["worker"], "./run --x=1:2");
    for (text, needle) in [
        ("web python3", "line 1: expected"),
        ("web: a\nweb: b", "line 2: process type \"web\" is declared twice"),
        ("Web: a", "line 1: \"Web\" is not a process type"),
        ("web:", "has no command"),
        ("# nothing", "declares no process"),
    ] {
        let e = parse_procfile(text).unwrap_err().to_string();
        assert!(e.contains(needle), "{text:?}: {e}");
    }
}

#[test]
fn packed_directories_unpack_with_modes_and_without_git() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("Procfile"), "web: ./run\n").unwrap();
    std::fs::create_dir_all(src.path().join("bin/.git")).unwrap();
    std::fs::write(src.path().join("bin/.git/x"), "x").unwrap();
    std::fs::write(src.path().join("bin/run"), "#!/bin/sh\n").unwrap();
    std::fs::create_dir(src.path().join(".git")).unwrap();
    std::fs::write(src.path().join(".git/HEAD"), "ref").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(src.path().join("bin/run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("bin/run", src.path().join("run")).unwrap();

    let tarball = pack_dir(src.path()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("upload.tar.gz");
    std::fs::write(&file, &tarball).unwrap();
    let dest = work.path().join("out");
    std::fs::create_dir(&dest).unwrap();
    unpack(&file, &dest, 1 << 20).unwrap();
    assert_eq!(read_procfile(&dest).unwrap()["web"], "./run");
    let mode = std::fs::metadata(dest.join("bin/run")).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "executables stay executable");
    assert_eq!(std::fs::read_link(dest.join("run")).unwrap(), Path::new("bin/run"));
    assert!(!dest.join(".git").exists() && !dest.join("bin/.git").exists());

    let small = work.path().join("small");
    std::fs::create_dir(&small).unwrap();
    assert!(matches!(unpack(&file, &small, 4), Err(SlugError::TooLarge { max: 4 })));
    std::fs::write(&file, b"not gzip").unwrap();
    assert!(matches!(unpack(&file, &small, 1 << 20), Err(SlugError::Archive(_))));
}

#[test]
fn entries_escaping_the_directory_are_refused() {
    // A hand-made header: tar::Builder refuses to write such paths itself.
    let mut header = tar::Header::new_gnu();
    let name = b"../evil";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_size(4);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut raw = header.as_bytes().to_vec();
    raw.extend_from_slice(b"evil");
    raw.resize(raw.len() + 508 + 1024, 0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("evil.tar.gz");
    std::fs::write(&file, gz.finish().unwrap()).unwrap();
    let dest = work.path().join("out");
    std::fs::create_dir(&dest).unwrap();
    let result = unpack(&file, &dest, 1 << 20);
    assert!(matches!(result, Err(SlugError::Archive(_))), "{result:?}");
    assert!(!work.path().join("evil").exists());
}

#[test]
fn a_single_top_level_folder_is_the_root() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("app-1.0")).unwrap();
    std::fs::write(dir.path().join("app-1.0/Procfile"), "web: x").unwrap();
    assert_eq!(source_root(dir.path()), dir.path().join("app-1.0"));
    std::fs::write(dir.path().join("Procfile"), "web: y").unwrap();
    assert_eq!(source_root(dir.path()), dir.path());
}

#[test]
fn in_memory_files_pack() {
    let tarball = pack_files(&[("Procfile", b"web: python3 app.py\n", 0o644)]).unwrap();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("t.tar.gz");
    std::fs::write(&file, tarball).unwrap();
    unpack(&file, work.path(), 1 << 20).unwrap();
    assert_eq!(read_procfile(work.path()).unwrap()["web"], "python3 app.py");
}
