//! How values become checkpoint payloads and back (PROTOCOL §10.1).
//!
//! The default is plain JSON through serde_json, the interoperable encoding
//! the conformance suite expects. A custom [`Serdes`] can change the encoding
//! of one operation's result.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where a value is being (de)serialized.
#[derive(Clone, Copy, Debug)]
pub struct SerdesContext<'a> {
    /// The operation's id.
    pub operation_id: &'a str,
    /// The execution's ARN.
    pub execution_arn: &'a str,
}

/// Turns a `T` into payload text and back.
///
/// Failures end the execution with a `SerializationError` naming the
/// operation; they are never retried.
pub trait Serdes<T>: Send + Sync {
    /// Serializes a value.
    ///
    /// # Errors
    /// A message saying why the value cannot be written.
    fn serialize(&self, value: &T, cx: SerdesContext<'_>) -> Result<String, String>;

    /// Deserializes a payload; an absent payload arrives as `None`.
    ///
    /// # Errors
    /// A message saying why the payload does not describe a `T`.
    fn deserialize(&self, payload: Option<&str>, cx: SerdesContext<'_>) -> Result<T, String>;
}

/// Plain JSON (the default). An absent payload reads as JSON `null`.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonSerdes;

impl<T: Serialize + DeserializeOwned> Serdes<T> for JsonSerdes {
    fn serialize(&self, value: &T, _cx: SerdesContext<'_>) -> Result<String, String> {
        serde_json::to_string(value).map_err(|e| e.to_string())
    }

    fn deserialize(&self, payload: Option<&str>, _cx: SerdesContext<'_>) -> Result<T, String> {
        serde_json::from_str(payload.unwrap_or("null")).map_err(|e| e.to_string())
    }
}

/// A [`Serdes`] from two closures.
pub struct FnSerdes<T, S, D> {
    ser: S,
    de: D,
    _marker: PhantomData<fn() -> T>,
}

impl<T, S, D> FnSerdes<T, S, D>
where
    S: Fn(&T) -> Result<String, String> + Send + Sync,
    D: Fn(Option<&str>) -> Result<T, String> + Send + Sync,
{
    /// A serdes that calls `ser` to write and `de` to read.
    pub fn new(ser: S, de: D) -> Self {
        Self {
            ser,
            de,
            _marker: PhantomData,
        }
    }
}

impl<T, S, D> Serdes<T> for FnSerdes<T, S, D>
where
    S: Fn(&T) -> Result<String, String> + Send + Sync,
    D: Fn(Option<&str>) -> Result<T, String> + Send + Sync,
{
    fn serialize(&self, value: &T, _cx: SerdesContext<'_>) -> Result<String, String> {
        (self.ser)(value)
    }

    fn deserialize(&self, payload: Option<&str>, _cx: SerdesContext<'_>) -> Result<T, String> {
        (self.de)(payload)
    }
}

impl<T> Serdes<T> for Box<dyn Serdes<T>> {
    fn serialize(&self, value: &T, cx: SerdesContext<'_>) -> Result<String, String> {
        (**self).serialize(value, cx)
    }

    fn deserialize(&self, payload: Option<&str>, cx: SerdesContext<'_>) -> Result<T, String> {
        (**self).deserialize(payload, cx)
    }
}

impl<T> Serdes<T> for std::sync::Arc<dyn Serdes<T>> {
    fn serialize(&self, value: &T, cx: SerdesContext<'_>) -> Result<String, String> {
        (**self).serialize(value, cx)
    }

    fn deserialize(&self, payload: Option<&str>, cx: SerdesContext<'_>) -> Result<T, String> {
        (**self).deserialize(payload, cx)
    }
}

/// One serdes value shared by several operations (a callback and its child
/// context; a batch and its items).
pub(crate) struct SharedSerdes<S>(pub(crate) std::sync::Arc<S>);

impl<T, S: Serdes<T>> Serdes<T> for SharedSerdes<S> {
    fn serialize(&self, value: &T, cx: SerdesContext<'_>) -> Result<String, String> {
        self.0.serialize(value, cx)
    }

    fn deserialize(&self, payload: Option<&str>, cx: SerdesContext<'_>) -> Result<T, String> {
        self.0.deserialize(payload, cx)
    }
}
