//! [`SqliteStore`]: executions in a SQLite database file, so that they
//! survive the process.
//!
//! # Design
//!
//! The store keeps every execution in memory, like [`MemoryStore`](crate::MemoryStore)
//! (the [`ExecutionStore`] trait lends out `&StoredExecution`), and writes
//! through: [`ExecutionStore::insert`] writes the new execution whole, and
//! every [`ExecutionStore::commit`] writes, in **one transaction**, what
//! changed since the previous commit:
//!
//! - the execution row's bookkeeping (status, result, error, end time, the
//!   token sequence, READY steps, open callbacks with their deadlines, the
//!   callbacks created, running chained invokes, the parent, the invocation
//!   in flight, the invocation and failure counters, `wake`, the pending
//!   `Execution*` event, the records the service updated) as one small JSON
//!   text, skipped when it is byte for byte what was written last;
//! - an upsert of each changed operation record (the wire `Operation` as
//!   JSON, keyed by execution and record index);
//! - an insert of each new history event.
//!
//! A checkpoint therefore costs O(changes), never a rewrite of the
//! execution's records. The immutable metadata (ARN, function, name, input,
//! start time, token prefix) is written once, by `insert`. The timer heap is
//! not written: [`SqliteStore::open`] re-arms it from the records and the
//! open callbacks, which hold every deadline.
//!
//! [`SqliteStore::open`] loads every execution back into memory, and
//! [`LocalService::with_store`](crate::LocalService::with_store) brings them
//! back into service (callback ids, invocations that were in flight).
//!
//! # Durability
//!
//! The database is in WAL journal mode with `synchronous=FULL`: the WAL is
//! synced to disk before each commit returns, so a checkpoint the service
//! has acknowledged survives the process being killed *and* the machine
//! losing power. (`synchronous=NORMAL` in WAL mode would survive a killed
//! process, but a power loss could take back the last commits; the issue
//! asks that an acknowledged checkpoint be on disk, so FULL.) A commit that
//! fails leaves the changes marked uncommitted in memory; the execution's
//! next commit writes them.
//!
//! The file is opened in exclusive locking mode: a second store (in this
//! process or another) cannot open it while this one is open, since two
//! in-memory copies of the same executions would diverge.
//!
//! # Schema
//!
//! `PRAGMA application_id` marks the file as a durable-local store and
//! `PRAGMA user_version` holds the schema version
//! ([`SqliteStore::SCHEMA_VERSION`]). An empty file is initialised; a file
//! of another application, or of a schema version this build does not
//! support, is rejected with an error naming the file and both versions.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use durable_core::wire::{ExecutionStatus, Operation};
use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use crate::events::{EventBody, EventRecord, NO_OPERATION};
use crate::fxhash::FxHashMap;
use crate::store::{Bookkeeping, ExecutionMeta, ExecutionStore, StoreError, StoredExecution};

/// `PRAGMA application_id` of a durable-local store ("DURL").
const APPLICATION_ID: i32 = 0x4455_524C;

/// How long opening waits for a lock held by someone else.
const LOCK_WAIT: Duration = Duration::from_millis(500);

const SCHEMA: &str = "
CREATE TABLE executions (
    id INTEGER PRIMARY KEY,
    arn TEXT NOT NULL UNIQUE,
    function_name TEXT NOT NULL,
    name TEXT NOT NULL,
    input TEXT NOT NULL,
    start_timestamp INTEGER NOT NULL,
    token_prefix TEXT NOT NULL,
    -- the execution status, also inside `state`, for people reading the file
    status TEXT NOT NULL,
    -- the bookkeeping as JSON
    state TEXT NOT NULL
);
CREATE TABLE operations (
    execution INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    -- the wire Operation as JSON
    operation TEXT NOT NULL,
    PRIMARY KEY (execution, idx)
);
CREATE TABLE events (
    execution INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    -- the record index of the operation; NULL for none
    op INTEGER,
    timestamp INTEGER NOT NULL,
    -- the event-specific part as JSON
    body TEXT NOT NULL,
    PRIMARY KEY (execution, idx)
);
";

const INSERT_EXECUTION: &str = "INSERT INTO executions \
     (arn, function_name, name, input, start_timestamp, token_prefix, status, state) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const UPDATE_EXECUTION: &str = "UPDATE executions SET status = ?2, state = ?3 WHERE id = ?1";
const UPSERT_OPERATION: &str = "INSERT INTO operations (execution, idx, operation) \
     VALUES (?1, ?2, ?3) \
     ON CONFLICT (execution, idx) DO UPDATE SET operation = excluded.operation";
const INSERT_EVENT: &str =
    "INSERT INTO events (execution, idx, op, timestamp, body) VALUES (?1, ?2, ?3, ?4, ?5)";

/// An execution and what the file holds of it.
struct Entry {
    /// The execution's row id.
    key: i64,
    /// Boxed, as in `MemoryStore`: the map's spare slots stay small.
    exec: Box<StoredExecution>,
    /// The bookkeeping JSON last written, while the execution runs (a
    /// commit that would write the same bytes skips the row); empty once
    /// it has ended (its result can be large, and it rarely changes again).
    written: Vec<u8>,
}

/// Keeps executions in a SQLite database file (WAL, `synchronous=FULL`),
/// so that they survive the process. Each commit writes only what changed
/// since the previous one, in one transaction, and returns once the WAL is
/// synced: a checkpoint the service acknowledged survives the process being
/// killed. [`SqliteStore::open`] loads the executions back, re-arming their
/// timers from the records.
///
/// ```no_run
/// use durable_local::{Clock, LocalService, ServiceConfig, SqliteStore};
///
/// let store = SqliteStore::open(".durable/executions.db")?;
/// let service = LocalService::with_store(Box::new(store), Clock::real(), ServiceConfig::default());
/// # Ok::<(), durable_local::StoreError>(())
/// ```
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    executions: FxHashMap<String, Entry>,
    /// function name → execution name → ARN.
    names: FxHashMap<String, FxHashMap<String, String>>,
    /// Serialization buffer, reused across commits.
    buf: Vec<u8>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("executions", &self.executions.len())
            .finish_non_exhaustive()
    }
}

/// An error about the file at `path`.
fn error(path: &Path, what: &str, cause: impl fmt::Display) -> StoreError {
    StoreError::new(format!("{}: {what}: {cause}", path.display()))
}

impl SqliteStore {
    /// The schema version this build writes and reads (`PRAGMA user_version`).
    pub const SCHEMA_VERSION: i32 = 1;

    /// Opens the store at `path`, creating the file (and its directories)
    /// if needed, and loads every execution in it.
    ///
    /// # Errors
    /// When the file cannot be created or read, is not a durable-local store
    /// (another SQLite database, not SQLite at all), has a schema version
    /// this build does not support, is open in another store, or holds an
    /// execution that cannot be restored.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| error(dir, "cannot create the store's directory", e))?;
        }
        let mut conn =
            Connection::open(&path).map_err(|e| error(&path, "cannot open the store", e))?;
        conn.busy_timeout(LOCK_WAIT)
            .map_err(|e| error(&path, "cannot configure the store", e))?;
        // Before the first access: the lock taken below is then kept until
        // the store is dropped, and WAL mode works without shared memory.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(|e| error(&path, "cannot configure the store", e))?;
        init_schema(&mut conn, &path)?;
        let journal: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| error(&path, "cannot switch the store to WAL", e))?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Err(error(
                &path,
                "cannot switch the store to WAL",
                format!("the journal mode stayed {journal}"),
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| error(&path, "cannot configure the store", e))?;
        let mut store = Self {
            conn,
            path,
            executions: FxHashMap::default(),
            names: FxHashMap::default(),
            buf: Vec::new(),
        };
        store.load()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every execution into memory.
    fn load(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let read = |e: rusqlite::Error| error(&path, "cannot read the store", e);
        let corrupt = |what: String| error(&path, "the store is corrupt", what);

        let mut operations: FxHashMap<i64, Vec<Operation>> = FxHashMap::default();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT execution, idx, operation FROM operations ORDER BY execution, idx")
                .map_err(read)?;
            let mut rows = stmt.query([]).map_err(read)?;
            while let Some(row) = rows.next().map_err(read)? {
                let key: i64 = row.get(0).map_err(read)?;
                let idx: i64 = row.get(1).map_err(read)?;
                let text: String = row.get(2).map_err(read)?;
                let list = operations.entry(key).or_default();
                if usize::try_from(idx).ok() != Some(list.len()) {
                    return Err(corrupt(format!(
                        "execution row {key} misses operation record {}",
                        list.len()
                    )));
                }
                let op = serde_json::from_str(&text).map_err(|e| {
                    corrupt(format!(
                        "operation record {idx} of execution row {key}: {e}"
                    ))
                })?;
                list.push(op);
            }
        }
        let mut events: FxHashMap<i64, Vec<EventRecord>> = FxHashMap::default();
        {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT execution, idx, op, timestamp, body FROM events \
                     ORDER BY execution, idx",
                )
                .map_err(read)?;
            let mut rows = stmt.query([]).map_err(read)?;
            while let Some(row) = rows.next().map_err(read)? {
                let key: i64 = row.get(0).map_err(read)?;
                let idx: i64 = row.get(1).map_err(read)?;
                let op: Option<u32> = row.get(2).map_err(read)?;
                let timestamp: i64 = row.get(3).map_err(read)?;
                let text: String = row.get(4).map_err(read)?;
                let list = events.entry(key).or_default();
                if usize::try_from(idx).ok() != Some(list.len()) {
                    return Err(corrupt(format!(
                        "execution row {key} misses event {}",
                        list.len()
                    )));
                }
                let body: EventBody = serde_json::from_str(&text)
                    .map_err(|e| corrupt(format!("event {idx} of execution row {key}: {e}")))?;
                list.push(EventRecord {
                    op: op.unwrap_or(NO_OPERATION),
                    timestamp,
                    body,
                });
            }
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, arn, function_name, name, input, start_timestamp, token_prefix, state \
                 FROM executions",
            )
            .map_err(read)?;
        let mut rows = stmt.query([]).map_err(read)?;
        while let Some(row) = rows.next().map_err(read)? {
            let key: i64 = row.get(0).map_err(read)?;
            let meta = ExecutionMeta {
                arn: row.get(1).map_err(read)?,
                function_name: row.get(2).map_err(read)?,
                name: row.get(3).map_err(read)?,
                input: row.get(4).map_err(read)?,
                start_timestamp: row.get(5).map_err(read)?,
                token_prefix: row.get(6).map_err(read)?,
            };
            let state: String = row.get(7).map_err(read)?;
            let book: Bookkeeping = serde_json::from_str(&state)
                .map_err(|e| corrupt(format!("the state of execution {}: {e}", meta.arn)))?;
            let exec = StoredExecution::restore(
                meta,
                operations.remove(&key).unwrap_or_default(),
                events.remove(&key).unwrap_or_default(),
                book,
            )
            .map_err(|e| corrupt(e.message().to_owned()))?;
            let mut written = Vec::new();
            if exec.status == ExecutionStatus::Running {
                serde_json::to_writer(&mut written, &exec.bookkeeping())
                    .map_err(|e| corrupt(format!("the state of execution {}: {e}", exec.arn)))?;
            }
            self.names
                .entry(exec.function_name.clone())
                .or_default()
                .insert(exec.name.clone(), exec.arn.clone());
            self.executions.insert(
                exec.arn.clone(),
                Entry {
                    key,
                    exec: Box::new(exec),
                    written,
                },
            );
        }
        Ok(())
    }
}

/// Checks the file's identity and schema version, and creates the schema
/// in an empty file. Takes the exclusive lock the store keeps.
fn init_schema(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Exclusive)
        .map_err(|e| {
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
                error(
                    path,
                    "cannot open the store",
                    "it is open in another store (another process, or another SqliteStore in \
                     this one)",
                )
            } else {
                error(path, "cannot open the store", e)
            }
        })?;
    let read = |e: rusqlite::Error| error(path, "cannot read the store", e);
    let version: i32 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(read)?;
    let application: i32 = tx
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(read)?;
    let tables: i64 = tx
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(read)?;
    let supported = SqliteStore::SCHEMA_VERSION;
    if version == 0 && application == 0 && tables == 0 {
        tx.execute_batch(SCHEMA)
            .map_err(|e| error(path, "cannot create the store's schema", e))?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(|e| error(path, "cannot create the store's schema", e))?;
        tx.pragma_update(None, "user_version", supported)
            .map_err(|e| error(path, "cannot create the store's schema", e))?;
    } else if application != APPLICATION_ID {
        return Err(error(
            path,
            "not a durable-local execution store",
            format!(
                "the SQLite database has application_id {application:#x} (a durable-local \
                 store has {APPLICATION_ID:#x}) and {tables} schema objects"
            ),
        ));
    } else if version > supported {
        return Err(error(
            path,
            "unsupported store schema",
            format!(
                "the store has schema version {version}, newer than this build of \
                 durable-local supports (version {supported}); open it with the newer \
                 durable-local that wrote it"
            ),
        ));
    } else if version < supported {
        // The first schema: there is no older version to migrate from.
        return Err(error(
            path,
            "unsupported store schema",
            format!(
                "the store has schema version {version}, which this build of durable-local \
                 cannot migrate (it supports version {supported})"
            ),
        ));
    }
    tx.commit()
        .map_err(|e| error(path, "cannot open the store", e))
}

/// Writes the records at `indices` of the execution row `key`.
fn write_operations(
    tx: &Transaction<'_>,
    path: &Path,
    key: i64,
    exec: &StoredExecution,
    indices: impl Iterator<Item = u32>,
) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(UPSERT_OPERATION)
        .map_err(|e| error(path, "cannot write an operation", e))?;
    for index in indices {
        let Some(slot) = exec.slots.get(index as usize) else {
            continue;
        };
        let json = serde_json::to_string(&slot.op)
            .map_err(|e| error(path, "cannot encode an operation", e))?;
        stmt.execute(params![key, index, json])
            .map_err(|e| error(path, "cannot write an operation", e))?;
    }
    Ok(())
}

/// Writes the events at `range` of the execution row `key`.
fn write_events(
    tx: &Transaction<'_>,
    path: &Path,
    key: i64,
    exec: &StoredExecution,
    range: std::ops::Range<usize>,
) -> Result<(), StoreError> {
    if range.is_empty() {
        return Ok(());
    }
    let mut stmt = tx
        .prepare_cached(INSERT_EVENT)
        .map_err(|e| error(path, "cannot write an event", e))?;
    for index in range {
        let Some(event) = exec.events.get(index) else {
            continue;
        };
        let body = serde_json::to_string(&event.body)
            .map_err(|e| error(path, "cannot encode an event", e))?;
        let op = (event.op != NO_OPERATION).then_some(event.op);
        let idx = i64::try_from(index).unwrap_or(i64::MAX);
        stmt.execute(params![key, idx, op, event.timestamp, body])
            .map_err(|e| error(path, "cannot write an event", e))?;
    }
    Ok(())
}

/// The bookkeeping JSON of `exec` in `buf`, as text.
fn encode_state<'b>(
    buf: &'b mut Vec<u8>,
    path: &Path,
    exec: &StoredExecution,
) -> Result<&'b str, StoreError> {
    buf.clear();
    serde_json::to_writer(&mut *buf, &exec.bookkeeping())
        .map_err(|e| error(path, "cannot encode an execution's state", e))?;
    std::str::from_utf8(buf).map_err(|e| error(path, "cannot encode an execution's state", e))
}

impl ExecutionStore for SqliteStore {
    fn insert(&mut self, mut execution: StoredExecution) -> Result<(), StoreError> {
        if self.executions.contains_key(&execution.arn) {
            return Err(StoreError::new(format!(
                "execution {} already exists",
                execution.arn
            )));
        }
        execution.set_change_tracking(true);
        let Self {
            conn, path, buf, ..
        } = self;
        let state = encode_state(buf, path, &execution)?;
        let write = |e: rusqlite::Error| error(path, "cannot write a new execution", e);
        let tx = conn.transaction().map_err(write)?;
        tx.prepare_cached(INSERT_EXECUTION)
            .and_then(|mut stmt| {
                stmt.execute(params![
                    execution.arn,
                    execution.function_name,
                    execution.name,
                    execution.input,
                    execution.start_timestamp,
                    execution.token_prefix,
                    execution.status.as_str(),
                    state,
                ])
            })
            .map_err(write)?;
        let key = tx.last_insert_rowid();
        let records = u32::try_from(execution.slots.len()).unwrap_or(u32::MAX);
        write_operations(&tx, path, key, &execution, 0..records)?;
        write_events(&tx, path, key, &execution, 0..execution.events.len())?;
        tx.commit().map_err(write)?;
        execution.mark_committed();
        let written = if execution.status == ExecutionStatus::Running {
            buf.clone()
        } else {
            Vec::new()
        };
        self.names
            .entry(execution.function_name.clone())
            .or_default()
            .insert(execution.name.clone(), execution.arn.clone());
        self.executions.insert(
            execution.arn.clone(),
            Entry {
                key,
                exec: Box::new(execution),
                written,
            },
        );
        Ok(())
    }

    fn get(&self, arn: &str) -> Option<&StoredExecution> {
        self.executions.get(arn).map(|entry| &*entry.exec)
    }

    fn get_mut(&mut self, arn: &str) -> Option<&mut StoredExecution> {
        self.executions.get_mut(arn).map(|entry| &mut *entry.exec)
    }

    fn find_by_name(&self, function_name: &str, execution_name: &str) -> Option<&str> {
        self.names
            .get(function_name)
            .and_then(|names| names.get(execution_name))
            .map(String::as_str)
    }

    fn commit(&mut self, arn: &str) -> Result<(), StoreError> {
        let Self {
            conn,
            path,
            executions,
            buf,
            ..
        } = self;
        let Some(entry) = executions.get_mut(arn) else {
            return Ok(());
        };
        let exec = &mut entry.exec;
        let state = encode_state(buf, path, exec)?;
        let running = exec.status == ExecutionStatus::Running;
        let state_changed = !running || entry.written.as_slice() != state.as_bytes();
        let events = exec.uncommitted_events();
        if !state_changed && exec.uncommitted.is_empty() && events.is_empty() {
            return Ok(());
        }
        let write = |e: rusqlite::Error| error(path, "cannot commit an execution", e);
        let tx = conn.transaction().map_err(write)?;
        if state_changed {
            let updated = tx
                .prepare_cached(UPDATE_EXECUTION)
                .and_then(|mut stmt| stmt.execute(params![entry.key, exec.status.as_str(), state]))
                .map_err(write)?;
            if updated != 1 {
                return Err(error(
                    path,
                    "cannot commit an execution",
                    format!("execution {arn} has no row in the store"),
                ));
            }
        }
        write_operations(&tx, path, entry.key, exec, exec.uncommitted.iter().copied())?;
        write_events(&tx, path, entry.key, exec, events)?;
        tx.commit().map_err(write)?;
        exec.mark_committed();
        entry.written.clear();
        if running {
            entry.written.extend_from_slice(buf);
        }
        Ok(())
    }

    fn remove(&mut self, arn: &str) -> Option<StoredExecution> {
        let entry = self.executions.remove(arn)?;
        let exec = entry.exec;
        if let Some(names) = self.names.get_mut(&exec.function_name) {
            names.remove(&exec.name);
        }
        let deleted = self.conn.transaction().and_then(|tx| {
            for table in ["operations", "events"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE execution = ?1"),
                    [entry.key],
                )?;
            }
            tx.execute("DELETE FROM executions WHERE id = ?1", [entry.key])?;
            tx.commit()
        });
        if let Err(e) = deleted {
            // The trait has no error here: the execution is gone from memory
            // and comes back the next time the store is opened.
            tracing::warn!(path = %self.path.display(), %arn, error = %e,
                "could not delete an execution from the store");
        }
        Some(*exec)
    }

    fn arns(&self) -> Vec<String> {
        self.executions.keys().cloned().collect()
    }
}
