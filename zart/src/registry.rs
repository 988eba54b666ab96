//! Which handler runs a task of which name.

use std::collections::HashMap;
use std::sync::Arc;

use crate::task::ScheduledTask;

/// The handlers a [`Worker`](crate::Worker) runs, by task name.
///
/// ```
/// # use zart::{async_trait, CompletionHandler, OnComplete, ScheduledTask, SchedulerTaskError, TaskInstance};
/// # struct SendEmail;
/// # #[async_trait]
/// # impl ScheduledTask for SendEmail {
/// #     async fn execute(&self, _: &TaskInstance) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
/// #         Ok(OnComplete::done())
/// #     }
/// # }
/// use zart::TaskRegistry;
///
/// let mut registry = TaskRegistry::new();
/// registry.register("send-email", SendEmail)?;
/// assert!(registry.register("send-email", SendEmail).is_err()); // one handler per name
/// # Ok::<(), zart::RegistryError>(())
/// ```
#[derive(Clone, Default)]
pub struct TaskRegistry {
    handlers: HashMap<String, Arc<dyn ScheduledTask>>,
}

/// A registration the registry refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A handler is already registered under this name.
    #[error("a handler is already registered for task name {0:?}")]
    DuplicateName(String),
    /// Task names must not be empty.
    #[error("task names must not be empty")]
    EmptyName,
}

impl TaskRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        TaskRegistry::default()
    }

    /// Registers `task` as the handler of tasks named `name`.
    pub fn register<T: ScheduledTask>(
        &mut self,
        name: impl Into<String>,
        task: T,
    ) -> Result<&mut Self, RegistryError> {
        self.register_arc(name, Arc::new(task))
    }

    /// Registers a shared handler as the handler of tasks named `name`.
    pub fn register_arc(
        &mut self,
        name: impl Into<String>,
        task: Arc<dyn ScheduledTask>,
    ) -> Result<&mut Self, RegistryError> {
        let name = name.into();
        if name.is_empty() {
            return Err(RegistryError::EmptyName);
        }
        if self.handlers.contains_key(&name) {
            return Err(RegistryError::DuplicateName(name));
        }
        self.handlers.insert(name, task);
        Ok(self)
    }

    /// The handler registered under `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn ScheduledTask>> {
        self.handlers.get(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// How many handlers are registered.
    pub fn len(&self) -> usize {
        self.handlers.len()
    }

    /// Whether no handler is registered.
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }
}

impl std::fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRegistry")
            .field("names", &self.names())
            .finish()
    }
}
