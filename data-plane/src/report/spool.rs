//! An append-only, checksummed on-disk queue of encoded records (SPEC §8; LESSONS "Audit
//! and usage delivery without loss").
//!
//! Records go into numbered segment files (`000000000001.seg`, …), each record framed as
//! `[u32 length][u32 CRC-32 of the payload][payload]`, little-endian. Appends are buffered
//! and made durable by [`Spool::sync`], which the writer calls on a short interval; only
//! durable records are handed to the sender. A record is identified by its segment and
//! byte offset; once every record of a sealed segment is acknowledged the file is
//! deleted. On open, existing segments are scanned, a torn tail (a crash mid-write) is cut
//! off at the last intact record, and every record still on disk is sent again — the
//! control plane stores each id once, so a resend is harmless.
//!
//! The spool is bounded: past `max_bytes` the oldest segment is deleted and its unacked
//! records are counted as dropped.
//!
//! Every method does blocking file I/O: callers run them on blocking threads.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const HEADER: u64 = 8;
/// A record larger than this is treated as corruption (audit entries are a few hundred
/// bytes).
const MAX_RECORD: u32 = 1 << 20;

/// Where a record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordRef {
    pub segment: u64,
    pub offset: u64,
}

/// Records read from the spool, each with where it lives.
pub type Batch = Vec<(RecordRef, Vec<u8>)>;

/// A position to read on from.
pub type Cursor = RecordRef;

/// The start of the spool.
pub const START: Cursor = RecordRef {
    segment: 0,
    offset: 0,
};

#[derive(Debug, Default)]
struct Segment {
    /// Bytes readable (durable).
    durable_len: u64,
    durable_records: u64,
    /// Offsets of acknowledged records.
    acked: HashSet<u64>,
    sealed: bool,
}

#[derive(Debug)]
struct Active {
    id: u64,
    file: BufWriter<File>,
    /// Bytes written so far, durable or not.
    len: u64,
    records: u64,
}

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    segments: BTreeMap<u64, Segment>,
    active: Option<Active>,
    next_id: u64,
    /// Records dropped because the spool was full, since open.
    dropped: u64,
}

impl Spool {
    /// Opens (creating) the spool in `dir`, recovering what a previous run left.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let mut segments = BTreeMap::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let id = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(id) = id {
                let (len, records) = recover(&path)?;
                if records == 0 {
                    fs::remove_file(&path)?;
                    continue;
                }
                segments.insert(
                    id,
                    Segment {
                        durable_len: len,
                        durable_records: records,
                        acked: HashSet::new(),
                        sealed: true,
                    },
                );
            }
        }
        let next_id = segments.keys().next_back().map_or(1, |id| id + 1);
        Ok(Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes: (max_bytes / 4).clamp(64 * 1024, 4 * 1024 * 1024),
            segments,
            active: None,
            next_id,
            dropped: 0,
        })
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:012}.seg"))
    }

    /// Buffers one record; it becomes durable (and readable) at the next [`Spool::sync`].
    pub fn append(&mut self, payload: &[u8]) -> io::Result<()> {
        let Ok(len) = u32::try_from(payload.len()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "record too large",
            ));
        };
        if self.active.is_none() {
            let id = self.next_id;
            self.next_id += 1;
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(self.path(id))?;
            self.segments.insert(id, Segment::default());
            self.active = Some(Active {
                id,
                file: BufWriter::with_capacity(64 * 1024, file),
                len: 0,
                records: 0,
            });
        }
        if let Some(active) = &mut self.active {
            active.file.write_all(&len.to_le_bytes())?;
            active
                .file
                .write_all(&crc32fast::hash(payload).to_le_bytes())?;
            active.file.write_all(payload)?;
            active.len += HEADER + u64::from(len);
            active.records += 1;
            if active.len >= self.segment_bytes {
                self.seal()?;
            }
        }
        self.enforce_bound();
        Ok(())
    }

    /// Makes every appended record durable; returns whether any became newly readable.
    pub fn sync(&mut self) -> io::Result<bool> {
        let Some(active) = &mut self.active else {
            return Ok(false);
        };
        let segment = self.segments.entry(active.id).or_default();
        if segment.durable_len == active.len {
            return Ok(false);
        }
        active.file.flush()?;
        active.file.get_ref().sync_data()?;
        segment.durable_len = active.len;
        segment.durable_records = active.records;
        Ok(true)
    }

    /// Closes the active segment (after making it durable).
    fn seal(&mut self) -> io::Result<()> {
        self.sync()?;
        if let Some(active) = self.active.take()
            && let Some(segment) = self.segments.get_mut(&active.id)
        {
            segment.sealed = true;
            self.delete_if_done(active.id);
        }
        Ok(())
    }

    /// Deletes the oldest segments while the spool is over its bound.
    fn enforce_bound(&mut self) {
        while self.bytes() > self.max_bytes {
            let Some((&oldest, segment)) = self.segments.iter().next() else {
                return;
            };
            if self.active.as_ref().is_some_and(|a| a.id == oldest) {
                // Only the active segment is left; it is bounded by `segment_bytes`.
                return;
            }
            let lost = segment.durable_records - segment.acked.len() as u64;
            self.dropped += lost;
            tracing::warn!(
                segment = oldest,
                records = lost,
                "spool full: dropped the oldest unacknowledged records"
            );
            self.segments.remove(&oldest);
            let _ = fs::remove_file(self.path(oldest));
        }
    }

    /// Bytes on disk, buffered ones included.
    pub fn bytes(&self) -> u64 {
        self.segments
            .iter()
            .map(|(id, s)| match &self.active {
                Some(a) if a.id == *id => a.len,
                _ => s.durable_len,
            })
            .sum()
    }

    /// Durable records not acknowledged yet.
    pub fn depth(&self) -> u64 {
        self.segments
            .values()
            .map(|s| s.durable_records - s.acked.len() as u64)
            .sum()
    }

    /// Drops counted since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// Up to `max` durable, unacknowledged records from `cursor` on, and the cursor after
    /// them.
    pub fn read(&self, cursor: Cursor, max: usize) -> io::Result<(Batch, Cursor)> {
        let mut out = Vec::new();
        let mut cursor = cursor;
        for (&id, segment) in self.segments.range(cursor.segment..) {
            if out.len() >= max {
                break;
            }
            if id != cursor.segment {
                cursor = RecordRef {
                    segment: id,
                    offset: 0,
                };
            }
            if cursor.offset >= segment.durable_len {
                continue;
            }
            let mut file = File::open(self.path(id))?;
            file.seek(SeekFrom::Start(cursor.offset))?;
            let mut reader = io::BufReader::new(file.take(segment.durable_len - cursor.offset));
            while out.len() < max && cursor.offset < segment.durable_len {
                let Some(payload) = read_record(&mut reader)? else {
                    break;
                };
                let at = RecordRef {
                    segment: id,
                    offset: cursor.offset,
                };
                cursor.offset += HEADER + payload.len() as u64;
                if !segment.acked.contains(&at.offset) {
                    out.push((at, payload));
                }
            }
        }
        Ok((out, cursor))
    }

    /// Marks a record stored by the control plane; deletes its segment once all are.
    pub fn ack(&mut self, record: RecordRef) {
        if let Some(segment) = self.segments.get_mut(&record.segment) {
            segment.acked.insert(record.offset);
            self.delete_if_done(record.segment);
        }
    }

    fn delete_if_done(&mut self, id: u64) {
        let Some(segment) = self.segments.get(&id) else {
            return;
        };
        let is_active = self.active.as_ref().is_some_and(|a| a.id == id);
        let fully_acked = segment.acked.len() as u64 == segment.durable_records;
        if !fully_acked {
            return;
        }
        if is_active {
            // A fully acknowledged active segment with nothing buffered is retired too, so
            // a healthy node keeps almost nothing on disk.
            if self
                .active
                .as_ref()
                .is_some_and(|a| a.len != segment.durable_len)
            {
                return;
            }
            self.active = None;
        } else if !segment.sealed {
            return;
        }
        self.segments.remove(&id);
        let _ = fs::remove_file(self.path(id));
    }
}

/// Reads one framed record; `None` at a clean end or at a torn/corrupt record.
fn read_record(reader: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; HEADER as usize];
    match reader.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_RECORD {
        return Ok(None);
    }
    let mut payload = vec![0u8; len as usize];
    match reader.read_exact(&mut payload) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    Ok((crc32fast::hash(&payload) == crc).then_some(payload))
}

/// Scans a segment left by a previous run: its intact length and record count, cutting
/// off anything after the first bad record.
fn recover(path: &Path) -> io::Result<(u64, u64)> {
    let file = File::open(path)?;
    let total = file.metadata()?.len();
    let mut reader = io::BufReader::new(file);
    let (mut len, mut records) = (0u64, 0u64);
    while let Some(payload) = read_record(&mut reader)? {
        len += HEADER + payload.len() as u64;
        records += 1;
    }
    if len < total {
        tracing::warn!(
            path = %path.display(),
            kept = len,
            cut = total - len,
            "spool segment had a torn or corrupt tail; cut it off"
        );
        OpenOptions::new().write(true).open(path)?.set_len(len)?;
    }
    Ok((len, records))
}

#[cfg(test)]
mod tests;
