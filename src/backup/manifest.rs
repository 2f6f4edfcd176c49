//! The manifest: one JSON line beside each backup file (`NAME.manifest.json`, read-only
//! like the file) saying what the file must be and what it holds. `verify` holds the file
//! to it (hash and size) and the restored copy to its row counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const SUFFIX: &str = ".manifest.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version of backup files.
    pub format: u32,
    /// The backup file's name (in the same directory).
    pub file: String,
    /// Hex SHA-256 of the file as stored (after compression and sealing).
    pub sha256: String,
    pub bytes: u64,
    pub created_at: DateTime<Utc>,
    /// `sqlite` (a database file) or `postgres` (`pg_dump` custom format).
    pub backend: String,
    /// The newest migration applied in the copy.
    pub schema_version: String,
    pub compression: String,
    /// The key that sealed the file (AES-256-GCM), when sealed.
    pub key_id: Option<String>,
    /// Rows per table in the copy.
    pub tables: BTreeMap<String, i64>,
}

impl Manifest {
    pub fn path_for(backup: &Path) -> PathBuf {
        let mut name = backup.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(SUFFIX);
        backup.with_file_name(name)
    }

    pub fn read(backup: &Path) -> anyhow::Result<Self> {
        let path = Self::path_for(backup);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("manifest {} cannot be read: {e}", path.display()))?;
        serde_json::from_str(text.trim())
            .map_err(|e| anyhow::anyhow!("manifest {} is not a valid manifest: {e}", path.display()))
    }

    pub fn line(&self) -> anyhow::Result<String> {
        Ok(format!("{}\n", serde_json::to_string(self)?))
    }

    pub fn total_rows(&self) -> i64 {
        self.tables.values().sum()
    }
}
