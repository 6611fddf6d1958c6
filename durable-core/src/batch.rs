//! `map` and `parallel`: run items or branches as child contexts, at most
//! `max_concurrency` at once, until a completion policy is met
//! (PROTOCOL §8.8, §6.4).

use std::collections::BTreeMap;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};

use crate::backend::BoxFuture;
use crate::child::ChildOptions;
use crate::context::{DurableContext, OpSlot};
use crate::error::{DurableError, ErrorCodec, kinds};
use crate::serdes::{JsonSerdes, Serdes, SerdesContext, SharedSerdes};
use crate::wire::{ErrorObject, OperationStatus};

/// The SubType of a map operation.
pub const MAP_SUBTYPE: &str = "Map";
/// The SubType of one map item.
pub const MAP_ITERATION_SUBTYPE: &str = "MapIteration";
/// The SubType of a parallel operation.
pub const PARALLEL_SUBTYPE: &str = "Parallel";
/// The SubType of one parallel branch.
pub const PARALLEL_BRANCH_SUBTYPE: &str = "ParallelBranch";

/// When a batch stops (PROTOCOL §8.8). With nothing set, the first failure
/// stops it (fail-fast).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CompletionConfig {
    min_successful: Option<usize>,
    tolerated_failure_count: Option<usize>,
    tolerated_failure_percentage: Option<f64>,
}

impl CompletionConfig {
    /// Every item must succeed: the first failure stops the batch.
    pub fn all_successful() -> Self {
        Self {
            min_successful: None,
            tolerated_failure_count: Some(0),
            tolerated_failure_percentage: Some(0.0),
        }
    }

    /// Run every item, whatever fails.
    pub fn all_completed() -> Self {
        Self {
            tolerated_failure_percentage: Some(100.0),
            ..Self::default()
        }
    }

    /// Stop at the first success.
    pub fn first_successful() -> Self {
        Self::default().min_successful(1)
    }

    /// Stop once this many items succeeded.
    #[must_use]
    pub fn min_successful(mut self, count: usize) -> Self {
        self.min_successful = Some(count);
        self
    }

    /// Stop once more than this many items failed.
    #[must_use]
    pub fn tolerated_failure_count(mut self, count: usize) -> Self {
        self.tolerated_failure_count = Some(count);
        self
    }

    /// Stop once more than this share (0–100) of all items failed.
    #[must_use]
    pub fn tolerated_failure_percentage(mut self, percent: f64) -> Self {
        self.tolerated_failure_percentage = Some(percent);
        self
    }

    fn exceeded(&self, failed: usize, total: usize) -> bool {
        match (
            self.tolerated_failure_count,
            self.tolerated_failure_percentage,
        ) {
            (None, None) => self.min_successful.is_none() && failed > 0,
            (count, percent) => {
                count.is_some_and(|c| failed > c)
                    || percent.is_some_and(|p| {
                        #[allow(clippy::cast_precision_loss)]
                        let share = failed as f64 * 100.0 / total.max(1) as f64;
                        share > p
                    })
            }
        }
    }
}

/// How items are recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Nesting {
    /// Each item is a child context of its own (the default).
    #[default]
    Nested,
    /// Items record no context of their own; their operations sit directly
    /// under the batch operation.
    Flat,
}

/// Why a batch stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompletionReason {
    /// Every item finished.
    AllCompleted,
    /// Enough items succeeded.
    MinSuccessfulReached,
    /// Too many items failed.
    FailureToleranceExceeded,
}

/// The state of one item when the batch stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ItemStatus {
    /// It returned a value.
    Succeeded,
    /// It returned an error.
    Failed,
    /// It was still running when the batch stopped.
    Started,
}

/// One item of a [`BatchResult`].
#[derive(Clone, Debug, PartialEq)]
pub struct BatchItem<T, E> {
    /// The item's index in the input.
    pub index: usize,
    /// How it ended.
    pub status: ItemStatus,
    /// Its value, when it succeeded.
    pub result: Option<T>,
    /// Its error, when it failed.
    pub error: Option<E>,
}

/// The outcome of a map or parallel: every started item, in index order,
/// and why the batch stopped. The batch operation itself succeeds even when
/// items failed; [`BatchResult::into_result`] turns a failure into an error.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchResult<T, E> {
    items: Vec<BatchItem<T, E>>,
    completion_reason: CompletionReason,
}

impl<T, E> BatchResult<T, E> {
    /// A batch result from its items (sorted into index order) and the
    /// completion reason: what a whole-batch [`Serdes`] (see
    /// [`Batch::serdes`]) rebuilds when it reads a result back.
    pub fn new(mut items: Vec<BatchItem<T, E>>, completion_reason: CompletionReason) -> Self {
        items.sort_by_key(|item| item.index);
        Self {
            items,
            completion_reason,
        }
    }

    /// Every started item, in index order.
    pub fn items(&self) -> &[BatchItem<T, E>] {
        &self.items
    }

    /// Why the batch stopped.
    pub fn completion_reason(&self) -> CompletionReason {
        self.completion_reason
    }

    /// The values of the items that succeeded, in index order.
    pub fn results(&self) -> Vec<&T> {
        self.items
            .iter()
            .filter_map(|i| i.result.as_ref())
            .collect()
    }

    /// The values of the items that succeeded, in index order.
    pub fn into_results(self) -> Vec<T> {
        self.items.into_iter().filter_map(|i| i.result).collect()
    }

    /// The items that succeeded.
    pub fn succeeded(&self) -> impl Iterator<Item = &BatchItem<T, E>> {
        self.items
            .iter()
            .filter(|i| i.status == ItemStatus::Succeeded)
    }

    /// The items that failed.
    pub fn failed(&self) -> impl Iterator<Item = &BatchItem<T, E>> {
        self.items.iter().filter(|i| i.status == ItemStatus::Failed)
    }

    /// How many items succeeded.
    pub fn success_count(&self) -> usize {
        self.succeeded().count()
    }

    /// How many items failed.
    pub fn failure_count(&self) -> usize {
        self.failed().count()
    }

    /// How many items were still running when the batch stopped.
    pub fn started_count(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.status == ItemStatus::Started)
            .count()
    }

    /// How many items started.
    pub fn total_count(&self) -> usize {
        self.items.len()
    }

    /// Whether any item failed.
    pub fn has_failure(&self) -> bool {
        self.failure_count() > 0
    }

    /// The values of all items in index order, or the first item's error.
    ///
    /// # Errors
    /// The error of the first failed item.
    pub fn into_result(self) -> Result<Vec<T>, E> {
        let mut values = Vec::with_capacity(self.items.len());
        for item in self.items {
            if let Some(error) = item.error {
                return Err(error);
            }
            values.extend(item.result);
        }
        Ok(values)
    }
}

/// The checkpointed form of a batch result: item results are the item's
/// own payload text, errors are error objects.
#[derive(Serialize, Deserialize)]
struct StoredBatch {
    all: Vec<StoredItem>,
    #[serde(rename = "completionReason")]
    completion_reason: CompletionReason,
}

#[derive(Serialize, Deserialize)]
struct StoredItem {
    index: usize,
    status: ItemStatus,
    result: Option<String>,
    error: Option<ErrorObject>,
}

/// The summary recorded instead of a batch result over 256 KiB; replay
/// rebuilds the result from the items' own records.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchSummary {
    #[serde(rename = "type")]
    kind: String,
    total_count: usize,
    success_count: usize,
    failure_count: usize,
    started_count: usize,
    completion_reason: CompletionReason,
    status: String,
}

fn summarize(payload: &str) -> String {
    let summary = match serde_json::from_str::<StoredBatch>(payload) {
        Ok(batch) => {
            let count = |s: ItemStatus| batch.all.iter().filter(|i| i.status == s).count();
            let failures = count(ItemStatus::Failed);
            BatchSummary {
                kind: "BatchResult".to_owned(),
                total_count: batch.all.len(),
                success_count: count(ItemStatus::Succeeded),
                failure_count: failures,
                started_count: count(ItemStatus::Started),
                completion_reason: batch.completion_reason,
                status: if failures > 0 { "FAILED" } else { "SUCCEEDED" }.to_owned(),
            }
        }
        Err(_) => return String::new(),
    };
    serde_json::to_string(&summary).unwrap_or_default()
}

/// Encodes a batch result with the item serdes, as [`StoredBatch`] JSON.
struct BatchSerdes<IS> {
    items: Arc<IS>,
}

impl<T, E: ErrorCodec, IS: Serdes<T>> Serdes<BatchResult<T, E>> for BatchSerdes<IS> {
    fn serialize(
        &self,
        value: &BatchResult<T, E>,
        cx: SerdesContext<'_>,
    ) -> Result<String, String> {
        let mut all = Vec::with_capacity(value.items.len());
        for item in &value.items {
            all.push(StoredItem {
                index: item.index,
                status: item.status,
                result: item
                    .result
                    .as_ref()
                    .map(|r| self.items.serialize(r, cx))
                    .transpose()?,
                error: item.error.as_ref().map(ErrorCodec::encode),
            });
        }
        serde_json::to_string(&StoredBatch {
            all,
            completion_reason: value.completion_reason,
        })
        .map_err(|e| e.to_string())
    }

    fn deserialize(
        &self,
        payload: Option<&str>,
        cx: SerdesContext<'_>,
    ) -> Result<BatchResult<T, E>, String> {
        let stored: StoredBatch =
            serde_json::from_str(payload.unwrap_or("")).map_err(|e| e.to_string())?;
        let mut items = Vec::with_capacity(stored.all.len());
        for item in stored.all {
            items.push(BatchItem {
                index: item.index,
                status: item.status,
                result: item
                    .result
                    .map(|text| self.items.deserialize(Some(&text), cx))
                    .transpose()?,
                error: item.error.as_ref().map(E::decode).transpose()?,
            });
        }
        Ok(BatchResult {
            items,
            completion_reason: stored.completion_reason,
        })
    }
}

/// A named branch of a parallel operation.
pub struct Branch<'a, T, E> {
    name: Option<String>,
    run: Box<dyn FnOnce(DurableContext) -> BoxFuture<'a, Result<T, E>> + Send + 'a>,
}

impl<'a, T, E> Branch<'a, T, E> {
    /// An unnamed branch (recorded as `parallel-branch-<index>`).
    pub fn new<F, Fut>(body: F) -> Self
    where
        F: FnOnce(DurableContext) -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, E>> + Send + 'a,
    {
        Self {
            name: None,
            run: Box::new(move |ctx| Box::pin(body(ctx))),
        }
    }

    /// A branch with a name.
    pub fn named<F, Fut>(name: impl Into<String>, body: F) -> Self
    where
        F: FnOnce(DurableContext) -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, E>> + Send + 'a,
    {
        Self {
            name: Some(name.into()),
            ..Self::new(body)
        }
    }
}

impl<T, E> fmt::Debug for Branch<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Branch")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Settings shared by map and parallel.
#[derive(Clone, Debug, Default)]
struct BatchConfig {
    name: Option<String>,
    max_concurrency: Option<usize>,
    completion: CompletionConfig,
    nesting: Nesting,
}

/// One item, ready to run in its context.
type ItemFn<'a, T, E> = Box<dyn FnOnce(DurableContext) -> BoxFuture<'a, Result<T, E>> + Send + 'a>;

struct PreparedItem<'a, T, E> {
    name: String,
    run: ItemFn<'a, T, E>,
}

/// A whole-batch serdes.
type WholeSerdes<'a, T, E> = Box<dyn Serdes<BatchResult<T, E>> + 'a>;

/// A map or parallel operation, ready to be configured and awaited. Created
/// by [`DurableContext::map`] or [`DurableContext::parallel`].
#[must_use = "a batch does nothing until it is awaited"]
pub struct Batch<'a, T, E, IS = JsonSerdes> {
    ctx: DurableContext,
    slot: OpSlot,
    sub_type: &'static str,
    item_sub_type: &'static str,
    items: Vec<PreparedItem<'a, T, E>>,
    config: BatchConfig,
    item_serdes: IS,
    serdes: Option<WholeSerdes<'a, T, E>>,
}

impl DurableContext {
    /// Runs `body` for every item, each in its own child context, at most
    /// [`max_concurrency`](Batch::max_concurrency) at once; the result lists
    /// every started item in index order. Item `i` (0-based) has the id
    /// `H("<map id>-<i>")`, whatever order items run in.
    ///
    /// ```no_run
    /// # use durable_core::*;
    /// # async fn demo(ctx: DurableContext) -> Result<(), DurableError> {
    /// let sizes = ctx
    ///     .map(vec!["a.txt", "b.txt"], |item: DurableContext, file: &str, _index: usize| async move {
    ///         item.step(move |_| async move { Ok::<_, StepError>(file.len()) }).await
    ///     })
    ///     .max_concurrency(10)
    ///     .await?
    ///     .into_result()?;
    /// # Ok(()) }
    /// ```
    pub fn map<'a, I, T, E, F, Fut>(&self, items: Vec<I>, body: F) -> Batch<'a, T, E>
    where
        I: Send + 'a,
        F: Fn(DurableContext, I, usize) -> Fut + Send + Sync + 'a,
        Fut: Future<Output = Result<T, E>> + Send + 'a,
    {
        let body = Arc::new(body);
        let items = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                let body = body.clone();
                let run: ItemFn<'a, T, E> =
                    Box::new(move |ctx| Box::pin(async move { body(ctx, item, index).await }));
                PreparedItem {
                    name: format!("map-item-{index}"),
                    run,
                }
            })
            .collect();
        self.batch(MAP_SUBTYPE, MAP_ITERATION_SUBTYPE, items)
    }

    /// Runs the branches, each in its own child context, at most
    /// [`max_concurrency`](Batch::max_concurrency) at once.
    pub fn parallel<'a, T, E>(&self, branches: Vec<Branch<'a, T, E>>) -> Batch<'a, T, E> {
        let items = branches
            .into_iter()
            .enumerate()
            .map(|(index, branch)| PreparedItem {
                name: branch
                    .name
                    .unwrap_or_else(|| format!("parallel-branch-{index}")),
                run: branch.run,
            })
            .collect();
        self.batch(PARALLEL_SUBTYPE, PARALLEL_BRANCH_SUBTYPE, items)
    }

    fn batch<'a, T, E>(
        &self,
        sub_type: &'static str,
        item_sub_type: &'static str,
        items: Vec<PreparedItem<'a, T, E>>,
    ) -> Batch<'a, T, E> {
        Batch {
            ctx: self.clone(),
            slot: self.next_slot(),
            sub_type,
            item_sub_type,
            items,
            config: BatchConfig::default(),
            item_serdes: JsonSerdes,
            serdes: None,
        }
    }
}

impl<'a, T, E, IS> Batch<'a, T, E, IS> {
    /// The name shown in the history.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = Some(name.into());
        self
    }

    /// At most this many items run at once (at least 1; unlimited by
    /// default). A suspended item keeps its place.
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        self.config.max_concurrency = Some(limit);
        self
    }

    /// When the batch stops.
    pub fn completion(mut self, completion: CompletionConfig) -> Self {
        self.config.completion = completion;
        self
    }

    /// Whether items record child contexts of their own.
    pub fn nesting(mut self, nesting: Nesting) -> Self {
        self.config.nesting = nesting;
        self
    }

    /// Names the items from their index (to name them by value, capture the
    /// values in the closure).
    pub fn item_namer(mut self, namer: impl Fn(usize) -> String) -> Self {
        for (index, item) in self.items.iter_mut().enumerate() {
            item.name = namer(index);
        }
        self
    }

    /// A custom encoding of each item's result.
    pub fn item_serdes<IS2>(self, item_serdes: IS2) -> Batch<'a, T, E, IS2> {
        Batch {
            ctx: self.ctx,
            slot: self.slot,
            sub_type: self.sub_type,
            item_sub_type: self.item_sub_type,
            items: self.items,
            config: self.config,
            item_serdes,
            serdes: self.serdes,
        }
    }

    /// A custom encoding of the whole batch result.
    pub fn serdes(mut self, serdes: impl Serdes<BatchResult<T, E>> + 'a) -> Self {
        self.serdes = Some(Box::new(serdes));
        self
    }
}

/// The batch encoding: a whole-batch serdes if given, else [`StoredBatch`]
/// JSON holding the item serdes' texts.
enum EitherSerdes<'a, T, E, IS> {
    Items(BatchSerdes<IS>),
    Whole(WholeSerdes<'a, T, E>),
}

impl<T, E, IS> Serdes<BatchResult<T, E>> for EitherSerdes<'_, T, E, IS>
where
    E: ErrorCodec,
    IS: Serdes<T>,
{
    fn serialize(
        &self,
        value: &BatchResult<T, E>,
        cx: SerdesContext<'_>,
    ) -> Result<String, String> {
        match self {
            Self::Items(s) => s.serialize(value, cx),
            Self::Whole(s) => (**s).serialize(value, cx),
        }
    }

    fn deserialize(
        &self,
        payload: Option<&str>,
        cx: SerdesContext<'_>,
    ) -> Result<BatchResult<T, E>, String> {
        match self {
            Self::Items(s) => s.deserialize(payload, cx),
            Self::Whole(s) => (**s).deserialize(payload, cx),
        }
    }
}

fn validation(message: String) -> DurableError {
    DurableError::new(message).with_type(kinds::VALIDATION)
}

impl<'a, T, E, IS> IntoFuture for Batch<'a, T, E, IS>
where
    T: Send + 'a,
    E: ErrorCodec,
    IS: Serdes<T> + 'a,
{
    type Output = Result<BatchResult<T, E>, DurableError>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let Self {
                ctx,
                slot,
                sub_type,
                item_sub_type,
                items,
                config,
                item_serdes,
                serdes,
            } = self;
            if config.max_concurrency == Some(0) {
                return Err(validation(format!(
                    "{sub_type} {}: max_concurrency must be at least 1",
                    slot.id
                )));
            }
            if let Some(min) = config.completion.min_successful
                && min > items.len()
            {
                return Err(validation(format!(
                    "{sub_type} {}: min_successful is {min} but there are only {} items",
                    slot.id,
                    items.len()
                )));
            }
            let item_serdes = Arc::new(item_serdes);
            // Nested items come back from their own child contexts already
            // read back through the item serdes (errors through their
            // codec), so the default batch encoding need not be read back
            // again; a whole-batch serdes, or FLAT items, must be.
            let round_trip = serdes.is_some() || config.nesting == Nesting::Flat;
            let batch_serdes = match serdes {
                Some(whole) => EitherSerdes::Whole(whole),
                None => EitherSerdes::Items(BatchSerdes {
                    items: item_serdes.clone(),
                }),
            };
            let name = config.name.clone();
            let body = move |batch_ctx: DurableContext| async move {
                Ok::<_, DurableError>(
                    run_items(batch_ctx, items, &config, item_sub_type, item_serdes).await,
                )
            };
            let mut child = ctx
                .child_at(slot, body, sub_type)
                .serdes(batch_serdes)
                .options(ChildOptions {
                    sync_end: true,
                    summary: Some(summarize),
                    round_trip,
                });
            if let Some(name) = name {
                child = child.name(name);
            }
            child.await
        })
    }
}

type ItemOutcome<T, E> = (usize, Result<T, E>);

async fn run_items<'a, T, E, IS>(
    batch_ctx: DurableContext,
    items: Vec<PreparedItem<'a, T, E>>,
    config: &BatchConfig,
    item_sub_type: &'static str,
    item_serdes: Arc<IS>,
) -> BatchResult<T, E>
where
    T: Send + 'a,
    E: ErrorCodec,
    IS: Serdes<T> + 'a,
{
    let total = items.len();
    let limit = config.max_concurrency.unwrap_or(usize::MAX).max(1);
    let core = batch_ctx.core().clone();
    // On the replay of a result too large to store, rebuild it from the
    // items' own records instead of scheduling anew.
    let rebuilding = batch_ctx.parent_id().is_some_and(|id| {
        core.with_record(id, |op| {
            op.is_some_and(|op| {
                op.status == OperationStatus::Succeeded
                    && op
                        .context_details
                        .as_ref()
                        .and_then(|d| d.replay_children)
                        .unwrap_or(false)
            })
        })
    });

    let mut queue = items.into_iter().enumerate();
    let mut running: FuturesUnordered<BoxFuture<'a, ItemOutcome<T, E>>> = FuturesUnordered::new();
    let mut finished: BTreeMap<usize, Result<T, E>> = BTreeMap::new();
    let mut in_flight: BTreeMap<usize, ()> = BTreeMap::new();
    let (mut succeeded, mut failed) = (0usize, 0usize);
    let reason = loop {
        while running.len() < limit {
            let Some((index, item)) = queue.next() else {
                break;
            };
            let slot = batch_ctx.item_slot(index as u64);
            if rebuilding && config.nesting == Nesting::Nested {
                let status = core.with_record(&slot.id, |op| op.map(|op| op.status.clone()));
                match status {
                    Some(status) if status.is_terminal() => {}
                    Some(_) => {
                        in_flight.insert(index, ());
                        continue;
                    }
                    None => continue,
                }
            }
            in_flight.insert(index, ());
            let run = item.run;
            let future: BoxFuture<'a, ItemOutcome<T, E>> = match config.nesting {
                Nesting::Nested => {
                    let child = batch_ctx
                        .child_at(slot, run, item_sub_type)
                        .name(item.name)
                        .serdes(SharedSerdes(item_serdes.clone()))
                        .options(ChildOptions {
                            sync_end: false,
                            summary: None,
                            round_trip: true,
                        });
                    Box::pin(async move { (index, child.await) })
                }
                Nesting::Flat => {
                    let item_ctx = DurableContext::virtual_child(
                        core.clone(),
                        batch_ctx.parent_id().map(str::to_owned),
                        Some(slot.id),
                        true,
                    );
                    Box::pin(async move { (index, run(item_ctx).await) })
                }
            };
            running.push(future);
        }
        let Some((index, outcome)) = running.next().await else {
            break CompletionReason::AllCompleted;
        };
        in_flight.remove(&index);
        match &outcome {
            Ok(_) => succeeded += 1,
            Err(_) => failed += 1,
        }
        finished.insert(index, outcome);
        let all_done = running.is_empty() && queue.len() == 0;
        if config.completion.exceeded(failed, total) {
            break CompletionReason::FailureToleranceExceeded;
        }
        if all_done {
            break CompletionReason::AllCompleted;
        }
        if config
            .completion
            .min_successful
            .is_some_and(|min| succeeded >= min)
        {
            break CompletionReason::MinSuccessfulReached;
        }
    };
    // Items still running are orphaned: dropping them stops them, and
    // nothing more is sent for them (PROTOCOL §6.4).
    drop(running);

    let mut out: BTreeMap<usize, BatchItem<T, E>> = BTreeMap::new();
    for index in in_flight.into_keys() {
        out.insert(
            index,
            BatchItem {
                index,
                status: ItemStatus::Started,
                result: None,
                error: None,
            },
        );
    }
    for (index, outcome) in finished {
        let item = match outcome {
            Ok(value) => BatchItem {
                index,
                status: ItemStatus::Succeeded,
                result: Some(value),
                error: None,
            },
            Err(error) => BatchItem {
                index,
                status: ItemStatus::Failed,
                result: None,
                error: Some(error),
            },
        };
        out.insert(index, item);
    }
    BatchResult {
        items: out.into_values().collect(),
        completion_reason: reason,
    }
}
