//! `cgroup_path(id[, filter])`: the paths of the cgroup with this id in the mounted cgroup
//! hierarchies, resolved when the value is printed, as bpftrace does. A cgroup's id is its
//! directory's inode number. The hierarchies are the cgroup2 mount (named `unified`) and
//! then the cgroup v1 mounts named by their mount directory (`cpu`, `memory`, `systemd`),
//! in name order; the text is `name:/path` for each hierarchy where a directory has the id,
//! joined by commas (empty when none has it).

use std::{
    os::unix::fs::{DirEntryExt, MetadataExt},
    path::Path,
};

/// The text of cgroup `id` in the hierarchies whose names match the glob `filter`.
pub fn path(id: u64, filter: Option<&str>) -> String {
    let mut found = Vec::new();
    for (name, root) in hierarchies() {
        if filter.is_some_and(|f| !glob(f.as_bytes(), name.as_bytes())) {
            continue;
        }
        if let Some(path) = find(Path::new(&root), id, 0) {
            let relative = path.strip_prefix(&root).unwrap_or(Path::new(""));
            found.push(format!("{name}:/{}", relative.display()));
        }
    }
    found.join(",")
}

/// The mounted hierarchies: (name, mount point), the cgroup2 one first.
fn hierarchies() -> Vec<(String, String)> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let (mut v2, mut v1) = (Vec::new(), Vec::new());
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(dir), Some(fstype)) = (fields.get(1), fields.get(2)) else { continue };
        let dir = dir.replace("\\040", " ");
        match *fstype {
            "cgroup2" => v2.push(("unified".to_string(), dir)),
            "cgroup" => {
                let name = Path::new(&dir).file_name().map(|n| n.to_string_lossy().into_owned());
                v1.push((name.unwrap_or_default(), dir));
            }
            _ => {}
        }
    }
    v1.sort();
    v2.extend(v1);
    v2
}

/// The entry under `dir` (itself included, files too, as bpftrace walks them) whose inode
/// is `id`, depth first in directory order.
fn find(dir: &Path, id: u64, depth: u32) -> Option<std::path::PathBuf> {
    if std::fs::symlink_metadata(dir).ok()?.ino() == id {
        return Some(dir.to_path_buf());
    }
    if depth > 64 {
        return None;
    }
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let found = match entry.file_type() {
            Ok(t) if t.is_dir() => find(&entry.path(), id, depth + 1),
            _ => (entry.ino() == id).then(|| entry.path()),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Whether `text` matches the glob `pattern` (`*` any run, `?` any one byte).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_hierarchy_names() {
        assert!(glob(b"cpu*", b"cpuacct"));
        assert!(glob(b"cpu*", b"cpu"));
        assert!(!glob(b"cpu*", b"memory"));
        assert!(glob(b"unified", b"unified"));
        assert!(glob(b"*", b""));
        assert!(glob(b"m?mory", b"memory"));
    }
}
