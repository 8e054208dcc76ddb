//! The last activated snapshot on local disk (SPEC §0, §8).
//!
//! A node that restarts while the control plane is unreachable boots from this file and
//! serves at once. The file is the encoded protobuf snapshot behind a small header with a
//! CRC-32; it is replaced atomically (write a temporary file, fsync it, rename it over the
//! old one, fsync the directory), so a crash leaves either the old or the new snapshot,
//! never a torn one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use policy_proto::v1 as pb;
use prost::Message;

const FILE_NAME: &str = "snapshot.pb";
const MAGIC: &[u8; 8] = b"PGSNAP1\n";

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("snapshot cache {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("snapshot cache {0}: corrupt ({1})")]
    Corrupt(PathBuf, &'static str),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Writes `snapshot` as the cached one.
pub fn store(dir: &Path, snapshot: &pb::Snapshot) -> Result<(), CacheError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let payload = snapshot.encode_to_vec();
    let mut bytes = Vec::with_capacity(payload.len() + 16);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&payload);

    let target = path(dir);
    let temp = dir.join(format!("{FILE_NAME}.tmp"));
    let mut file = File::create(&temp).map_err(io_error(&temp))?;
    file.write_all(&bytes).map_err(io_error(&temp))?;
    file.sync_all().map_err(io_error(&temp))?;
    drop(file);
    fs::rename(&temp, &target).map_err(io_error(&target))?;
    // The rename is durable only once the directory entry is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))?;
    Ok(())
}

/// Reads the cached snapshot; `Ok(None)` when there is none.
pub fn load(dir: &Path) -> Result<Option<pb::Snapshot>, CacheError> {
    let target = path(dir);
    let bytes = match fs::read(&target) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(&target)(e)),
    };
    let corrupt = |why| CacheError::Corrupt(target.clone(), why);
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| corrupt("bad header"))?;
    if rest.len() < 8 {
        return Err(corrupt("truncated header"));
    }
    let (crc, rest) = rest.split_at(4);
    let (len, payload) = rest.split_at(4);
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if payload.len() != len {
        return Err(corrupt("length mismatch"));
    }
    if crc32fast::hash(payload) != crc {
        return Err(corrupt("checksum mismatch"));
    }
    pb::Snapshot::decode(payload)
        .map(Some)
        .map_err(|_| corrupt("not a snapshot"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let snapshot = pb::Snapshot {
            version: 7,
            created_at_unix_ms: 1,
            ..Default::default()
        };
        store(dir.path(), &snapshot).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(snapshot.clone()));
        store(
            dir.path(),
            &pb::Snapshot {
                version: 8,
                ..snapshot
            },
        )
        .unwrap();
        assert_eq!(load(dir.path()).unwrap().map(|s| s.version), Some(8));

        let mut bytes = fs::read(path(dir.path())).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(path(dir.path()), bytes).unwrap();
        assert!(matches!(load(dir.path()), Err(CacheError::Corrupt(..))));
    }
}
