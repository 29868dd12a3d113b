//! Persisted topic metadata: `<data_dir>/topics/<topic>.toml`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

const TOPICS_DIR: &str = "topics";

#[derive(Debug, Clone, PartialEq)]
pub struct StoredTopic {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicFile {
    id: String,
    partitions: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

fn topic_file(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(TOPICS_DIR).join(format!("{name}.toml"))
}

fn bad_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Writes the topic's file atomically: a temp file, fsync, rename, fsync the dir.
pub fn save(data_dir: &Path, topic: &StoredTopic) -> io::Result<()> {
    let dir = data_dir.join(TOPICS_DIR);
    fs::create_dir_all(&dir)?;
    let body = toml::to_string(&TopicFile {
        id: topic.id.to_string(),
        partitions: topic.partitions,
        configs: topic.configs.clone(),
    })
    .map_err(|e| bad_data(e.to_string()))?;
    let path = topic_file(data_dir, &topic.name);
    let tmp = path.with_extension("toml.tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    fs::File::open(&dir)?.sync_all()
}

pub fn remove(data_dir: &Path, name: &str) -> io::Result<()> {
    fs::remove_file(topic_file(data_dir, name))?;
    fs::File::open(data_dir.join(TOPICS_DIR))?.sync_all()
}

pub fn load_all(data_dir: &Path) -> io::Result<Vec<StoredTopic>> {
    let dir = data_dir.join(TOPICS_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut topics = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".toml"))
        else {
            continue; // a leftover .tmp from an interrupted save
        };
        let text = fs::read_to_string(&path)?;
        let file: TopicFile =
            toml::from_str(&text).map_err(|e| bad_data(format!("{}: {e}", path.display())))?;
        let id = Uuid::parse_str(&file.id)
            .map_err(|e| bad_data(format!("{}: bad id: {e}", path.display())))?;
        topics.push(StoredTopic {
            name: name.to_string(),
            id,
            partitions: file.partitions,
            configs: file.configs,
        });
    }
    Ok(topics)
}

/// Deletes partition directories whose topic has no file: left over by a delete
/// that was interrupted after the topic file was removed.
pub fn remove_orphan_partitions(data_dir: &Path, exists: impl Fn(&str) -> bool) -> io::Result<()> {
    let entries = match fs::read_dir(data_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((topic, partition)) = name.rsplit_once('-') else {
            continue;
        };
        if partition.parse::<u32>().is_err() || exists(topic) {
            continue;
        }
        tracing::info!(
            dir = name,
            "removing partition directory of a deleted topic"
        );
        fs::remove_dir_all(entry.path())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_remove() {
        let dir = tempfile::tempdir().unwrap();
        let t = StoredTopic {
            name: "orders.v1".into(),
            id: Uuid::new_v4(),
            partitions: 3,
            configs: [("retention.ms".to_string(), "1000".to_string())].into(),
        };
        save(dir.path(), &t).unwrap();
        assert_eq!(load_all(dir.path()).unwrap(), vec![t.clone()]);
        fs::create_dir(dir.path().join("gone-0")).unwrap();
        fs::create_dir(dir.path().join("orders.v1-0")).unwrap();
        remove_orphan_partitions(dir.path(), |n| n == "orders.v1").unwrap();
        assert!(!dir.path().join("gone-0").exists());
        assert!(dir.path().join("orders.v1-0").exists());
        remove(dir.path(), "orders.v1").unwrap();
        assert!(load_all(dir.path()).unwrap().is_empty());
    }
}
