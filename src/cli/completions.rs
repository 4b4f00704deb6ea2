//! Shell completions, generated from a program's own clap definition, so they can never
//! fall out of step with its options: `PROG --generate-completions bash|zsh|fish` prints
//! the script (what `make install` installs). The flag is read before clap parses, so no
//! program declares it and `--help` does not show it.

use clap_complete::Shell;
use std::ffi::OsString;
use std::io::{self, Write};

/// The (hidden) flag that asks for a completion script.
pub const FLAG: &str = "--generate-completions";

/// The shell asked for when the arguments are exactly `FLAG SHELL`: `Ok(None)` when they
/// are not, `Err` with a message for a shell we cannot generate for.
pub fn requested(args: &[OsString]) -> Result<Option<Shell>, String> {
    match args {
        [_, flag, shell] if flag == FLAG => {
            let name = shell.to_string_lossy();
            name.parse::<Shell>().map(Some).map_err(|_| {
                format!("{FLAG}: expected bash, zsh, fish, elvish or powershell, found \"{name}\"")
            })
        }
        _ => Ok(None),
    }
}

/// Write the completion script for `cmd` (named `program`) in `shell`'s language.
pub fn write(
    shell: Shell,
    cmd: &mut clap::Command,
    program: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, cmd, program, &mut buf);
    out.write_all(&buf)?;
    out.flush()
}
