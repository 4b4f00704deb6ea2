//! Which of a program's files are one file: its input and its outputs, by name or by
//! descriptor, compared before anything is opened for writing.
//!
//! Two names are one file when they lead to the same device and inode (another spelling,
//! a hard link, a symbolic link, `/dev/stdout`), or, for a file not created yet, to the same
//! place in the same directory. Writing one output over another destroys it; truncating a
//! mapped input kills the program that reads it (SIGBUS). A character device (/dev/null, a
//! terminal) takes any number of writers and is never a clash; an input clashes only when
//! it is a regular file, since a pipe or socket may be stdin and stdout at once (socat's
//! EXEC hands a program one socket for both).
//!
//! This module only compares; what to refuse, and how to say it, is its callers' concern.

use std::os::fd::BorrowedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a name or a descriptor is, for comparing with the program's other files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileId {
    /// An existing file other than a character device.
    Inode { dev: u64, ino: u64, regular: bool },
    /// A character device: never one file with anything.
    Device,
    /// A file to be created, by its absolute name (its directory's canonical path).
    New(PathBuf),
    /// A name that leads nowhere (its directory does not exist): opening it will fail.
    Unknown,
}

/// Most symbolic links followed to the name a new file will have (Linux's own limit).
const MAX_LINKS: usize = 40;

impl FileId {
    /// What `path` names now.
    pub fn of_path(path: &Path) -> FileId {
        let mut path = path.to_path_buf();
        for _ in 0..MAX_LINKS {
            if let Ok(meta) = std::fs::metadata(&path) {
                return FileId::of_meta(meta.file_type(), meta.dev(), meta.ino());
            }
            // Absent, or a symbolic link to an absent file that opening would create.
            match std::fs::read_link(&path) {
                Ok(target) => path = path.parent().unwrap_or(Path::new("")).join(target),
                Err(_) => return absolute(&path).map_or(FileId::Unknown, FileId::New),
            }
        }
        FileId::Unknown
    }

    /// What the open descriptor `fd` is (standard input or output).
    pub fn of_fd(fd: BorrowedFd<'_>) -> FileId {
        match rustix::fs::fstat(fd) {
            Ok(st) => {
                use rustix::fs::FileType;
                let kind = FileType::from_raw_mode(st.st_mode);
                if kind == FileType::CharacterDevice {
                    FileId::Device
                } else {
                    FileId::Inode {
                        dev: st.st_dev,
                        ino: st.st_ino,
                        regular: kind == FileType::RegularFile,
                    }
                }
            }
            Err(_) => FileId::Unknown,
        }
    }

    fn of_meta(kind: std::fs::FileType, dev: u64, ino: u64) -> FileId {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() {
            FileId::Device
        } else {
            FileId::Inode {
                dev,
                ino,
                regular: kind.is_file(),
            }
        }
    }

    /// Both outputs are one file: writing one would overwrite or interleave with the other.
    pub fn same_output_as(&self, other: &FileId) -> bool {
        match (self, other) {
            (FileId::Inode { dev, ino, .. }, FileId::Inode { dev: d, ino: i, .. }) => {
                (dev, ino) == (d, i)
            }
            (FileId::New(a), FileId::New(b)) => a == b,
            _ => false,
        }
    }

    /// This output is `input`, a regular file that writing it would destroy.
    pub fn overwrites_input(&self, input: &FileId) -> bool {
        matches!(input, FileId::Inode { regular: true, .. }) && self.same_output_as(input)
    }
}

/// `path` made absolute through its existing directory, the last component as given.
fn absolute(path: &Path) -> Option<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.canonicalize().ok()?,
        _ => std::env::current_dir().ok()?,
    };
    Some(dir.join(path.file_name()?))
}

/// The first clash among a program's files: an output that is an input, or two outputs
/// that are one file; the labels of the two, input first. Each file is given with the
/// caller's label for it (an option, a role).
pub fn first_clash<L: Copy>(inputs: &[(L, FileId)], outputs: &[(L, FileId)]) -> Option<(L, L)> {
    for (i, (label, id)) in outputs.iter().enumerate() {
        if let Some((input, _)) = inputs.iter().find(|(_, input)| id.overwrites_input(input)) {
            return Some((*input, *label));
        }
        if let Some((other, _)) = outputs[..i].iter().find(|(_, o)| id.same_output_as(o)) {
            return Some((*other, *label));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_one_file_are_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a"), b"a").unwrap();
        std::fs::hard_link(d.join("a"), d.join("hard")).unwrap();
        std::os::unix::fs::symlink("a", d.join("soft")).unwrap();
        std::os::unix::fs::symlink("new", d.join("dangling")).unwrap();
        std::fs::write(d.join("b"), b"b").unwrap();
        let id = |name: &str| FileId::of_path(&d.join(name));
        let a = id("a");
        for other in ["hard", "soft", "./a", "../x/../a"] {
            let other = if other.starts_with("..") {
                std::fs::create_dir_all(d.join("x")).unwrap();
                FileId::of_path(&d.join("x").join(other))
            } else {
                id(other)
            };
            assert!(a.same_output_as(&other), "{other:?}");
            assert!(other.overwrites_input(&a));
        }
        assert!(!a.same_output_as(&id("b")));
        // Not created yet: the same name, through a link that would create it, or not.
        assert!(id("new").same_output_as(&id("dangling")));
        assert!(id("new").same_output_as(&FileId::of_path(&d.join("./new"))));
        assert!(!id("new").same_output_as(&id("other")));
        assert!(
            !id("new").overwrites_input(&id("new")),
            "an absent input is no input"
        );
        assert_eq!(id("nodir/x"), FileId::Unknown);
    }

    #[test]
    fn devices_and_streams_are_never_destroyed() {
        let null = FileId::of_path(Path::new("/dev/null"));
        assert_eq!(null, FileId::Device);
        assert!(!null.same_output_as(&null));
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let pipe = FileId::of_fd(std::os::fd::AsFd::as_fd(&r));
        assert!(
            pipe.same_output_as(&pipe),
            "one pipe written twice interleaves"
        );
        assert!(
            !pipe.overwrites_input(&pipe),
            "stdin and stdout may be one pipe"
        );
    }

    #[test]
    fn the_first_clash_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"f").unwrap();
        let g = dir.path().join("g");
        let input = [("input", FileId::of_path(&f))];
        let id = FileId::of_path;
        assert_eq!(first_clash(&input, &[("-o", id(&g))]), None);
        assert_eq!(
            first_clash(&input, &[("-o", id(&g)), ("--map", id(&f))]),
            Some(("input", "--map"))
        );
        assert_eq!(
            first_clash(&input, &[("-o", id(&g)), ("--map", id(&g))]),
            Some(("-o", "--map"))
        );
    }
}
