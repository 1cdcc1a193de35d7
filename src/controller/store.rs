//! The controller's durable state on disk: one JSON file replaced whole
//! (written to a temporary file, fsynced, renamed over the old one, and
//! the directory fsynced), so that a crash leaves the old state or the new,
//! never a mixture.

use super::state::Durable;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

const FILE: &str = "controller-state.json";

pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, String> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Store { dir })
    }

    /// The state the last run wrote, or `None` on a first start.
    pub fn load(&self) -> Result<Option<Durable>, String> {
        let path = self.dir.join(FILE);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| format!("{} is not the controller's state: {e}", path.display()))
    }

    pub fn save(&self, state: &Durable) -> Result<(), String> {
        let path = self.dir.join(FILE);
        let tmp = path.with_extension("tmp");
        let json = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
        let written = File::create(&tmp).and_then(|mut f| {
            f.write_all(&json)?;
            f.sync_all()
        });
        written.map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        fs::rename(&tmp, &path).map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
        sync_dir(&self.dir)
    }
}

fn sync_dir(dir: &Path) -> Result<(), String> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot fsync {}: {e}", dir.display()))
}
