//! `make install` installs what cargo built, wherever it built it (issue 29, item 11: it
//! read target/release even with CARGO_TARGET_DIR set, installing nothing or stale files).

use std::process::Command;

#[test]
fn make_install_takes_the_binaries_from_cargos_target_directory() {
    crate::common::require_tool("make");
    let root = env!("CARGO_MANIFEST_DIR");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for (target_dir, expected) in [
        (
            Some("/elsewhere/build"),
            "/elsewhere/build/release/pktize".to_string(),
        ),
        (None, format!("{root}/target/release/pktize")),
    ] {
        let mut make = Command::new("make");
        make.args(["-n", "-C", root, "install", "PREFIX=/nowhere"])
            .arg(format!("CARGO={cargo}"))
            .env_remove("CARGO_TARGET_DIR");
        if let Some(dir) = target_dir {
            make.env("CARGO_TARGET_DIR", dir);
        }
        let out = make.output().unwrap();
        assert!(out.status.success(), "{}", crate::common::stderr(&out));
        let plan = String::from_utf8_lossy(&out.stdout);
        let install = plan.lines().find(|l| l.contains("install -m 755")).unwrap();
        let from = install.replace("$p", "pktize");
        assert!(from.contains(&expected), "{target_dir:?}: {install}");
    }
}
